"""The seed tutorials' endpoints: each answers at once, and its tasks' effects come only afterwards."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from bgtasks_conformance import MUST, SHOULD, Harness, Response, needs, requirement
from bgtasks_conformance.observe.events import assert_before, ended, final_body, started, task_order
from bgtasks_conformance.target.contract import SEEDS

pytestmark = pytest.mark.anyio

Check = Callable[[], None]
Capsys = pytest.CaptureFixture[str]
CREATING_LOG_FILE = "--- BACKGROUND TASK: Creating log file ---"


def absent(*paths: Path) -> Check:
    """A check that none of ``paths`` exists yet."""

    def check() -> None:
        for path in paths:
            assert not path.exists(), (
                f"expected no {path.name} while the task that writes it is held, saw it exist")

    return check


async def held_task(
    harness: Harness,
    task: str,
    url: str,
    *,
    then: tuple[str, ...] = (),
    while_held: Check | None = None,
    before_response: Check | None = None,
    **request: Any,
) -> Response:
    """POST ``url`` with ``task`` held on its gate; return the response once every task has ended.

    The complete response must come before ``task`` starts; ``while_held`` runs while it is held
    (no effect yet, and none of the tasks ``then`` added after it started); ``before_response``
    runs while the final body send is held. The tasks must start in the order ``task, *then``.
    """
    harness.gate(task)
    send = harness.hold_final_send() if before_response else None
    call = harness.post(url, send_gate=send, **request)
    if send is not None and before_response is not None:
        seen = await harness.wait(lambda e: (e.kind == "send.held" and e["call"] == call.id)
                                  or (e.kind == "gate.wait" and e["gate"] == task), "the final body send")
        # fail fast: a task holding before the final send holds the response too, which would wait out the timeout
        assert seen.kind == "send.held", (
            f"expected the final body send before task {task!r} started, saw it hold on its gate first "
            f"([{seen.seq}]); timeline:\n{harness.timeline.format()}")
        before_response()
        send.open()
    response = await call.response()
    await harness.wait_started(task)
    assert_before(harness.timeline, final_body(call.id), started(task),
                  first_is="the final body chunk", then_is=f"task {task!r} starting")
    for later in then:
        assert harness.timeline.first(started(later)) is None, (
            f"expected {later!r} to wait while {task!r} was held, saw it start")
    if while_held is not None:
        while_held()
    harness.open(task)
    raised = await call.finished()
    assert raised is None, (
        f"expected the app call to return, saw it raise {raised!r}; timeline:\n{harness.timeline.format()}")
    started_order, ended_order = task_order(harness.timeline), task_order(harness.timeline, "end")
    assert started_order == [task, *then], f"expected the tasks to start as {[task, *then]}, saw {started_order}"
    assert ended_order == [task, *then], (
        f"expected every task to end without an error, {[task, *then]}, saw {ended_order} end")
    return response


def assert_json(response: Response, expected: Any, status: int = 200) -> Any:
    assert response.status == status, f"expected {status} {expected}, got {response}"
    assert response.json() == expected, f"expected {status} {expected}, got {response}"
    return response.json()


def assert_file(path: Path, expected: str) -> None:
    """``path`` exists and holds exactly ``expected``."""
    seen = path.read_text() if path.is_file() else None
    assert seen == expected, (
        f"expected {path.name} to hold {expected!r}, saw {'no such file' if seen is None else repr(seen)}")


def assert_model_instance(received: Any, model_name: str, fields: dict[str, Any]) -> None:
    """The task got the validated model object itself: not a dict, not its fields."""
    assert isinstance(received, BaseModel), f"expected a {model_name} instance, got {type(received).__name__}"
    assert type(received).__name__ == model_name, f"expected a {model_name}, got a {type(received).__name__}"
    assert received.model_dump() == fields, f"expected the fields {fields}, got {received.model_dump()}"


def multipart(filename: str, content: bytes, content_type: str = "image/png") -> dict[str, Any]:
    """Request options for a multipart/form-data upload of one file in the field ``file``."""
    boundary = "bgtasks-seed-boundary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n")
    body = head.encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return {"body": body, "headers": [("content-type", f"multipart/form-data; boundary={boundary}")]}


# -- seed 000 --------------------------------------------------------------------------------------
@requirement("SEED-001", MUST)
@needs(SEEDS)
async def test_gauntlet_notification_is_logged_after_the_response(harness: Harness) -> None:
    """POST /gauntlet/send-notification/{email} answers {"message": "Notification queued for {email}"} at
    once; only after the response does write_notification_log(email, message=that message) append
    "Notification for {email}: {message}" and a newline to notification_log.txt."""
    log = harness.data_dir / "notification_log.txt"
    response = await held_task(harness, "write_notification_log",
                               "/gauntlet/send-notification/thanos@titan.net", while_held=absent(log))
    message = "Notification queued for thanos@titan.net"
    assert_json(response, {"message": message})
    assert_file(log, f"Notification for thanos@titan.net: {message}\n")
    assert harness.started_args("write_notification_log") == (("thanos@titan.net",), {"message": message})


@requirement("SEED-002", MUST)
@needs(SEEDS)
async def test_generate_report_task_gets_the_model(harness: Harness, capsys: Capsys) -> None:
    """POST /generate-report answers {"message": "Report '<report_name>' generation started for
    <recipient_email>."} at once; only after the response does simulate_report_generation receive the
    ReportRequest model instance itself and print a message naming the report and the recipient."""
    fields = {"recipient_email": "ebony.maw@black-order.net", "report_name": "Stones Inventory"}

    def naming_both() -> list[str]:
        return [line for line in capsys.readouterr().out.splitlines()
                if fields["report_name"] in line and fields["recipient_email"] in line]

    def nothing_printed() -> None:
        assert naming_both() == [], "the report task printed its message while held"

    response = await held_task(harness, "simulate_report_generation", "/generate-report",
                               json=fields, while_held=nothing_printed)
    assert_json(response, {"message": "Report 'Stones Inventory' generation started for "
                                      "ebony.maw@black-order.net."})
    assert naming_both(), "simulate_report_generation printed no message naming the report and the recipient"
    (received,), kwargs = harness.started_args("simulate_report_generation")
    assert kwargs == {}
    assert_model_instance(received, "ReportRequest", fields)


# -- seed 001 --------------------------------------------------------------------------------------
@requirement("SEED-003", MUST)
@needs(SEEDS)
@pytest.mark.parametrize(("query", "activity"), [
    ("", "Generic activity logged."),
    ("?activity_description=Accessed%20Batcave%20files", "Accessed Batcave files"),
])
async def test_activity_is_logged_after_the_response(harness: Harness, query: str, activity: str) -> None:
    """POST /log-activity/{user_email} answers {"message": "Activity logging initiated for {user_email}."} at
    once; only after the response does log_batcomputer_activity(user_email, activity=activity_description)
    append "User {user_email} activity: {activity}" and a newline to batcomputer_logs/activity_log.txt, the
    activity defaulting to "Generic activity logged."."""
    log = harness.data_dir / "batcomputer_logs" / "activity_log.txt"
    response = await held_task(harness, "log_batcomputer_activity",
                               f"/log-activity/bruce@wayne.enterprises{query}", while_held=absent(log))
    assert_json(response, {"message": "Activity logging initiated for bruce@wayne.enterprises."})
    assert_file(log, f"User bruce@wayne.enterprises activity: {activity}\n")
    assert harness.started_args("log_batcomputer_activity") == (
        ("bruce@wayne.enterprises",), {"activity": activity})


@requirement("SEED-004", SHOULD)
@needs(SEEDS)
async def test_activity_log_creation_is_announced_once(harness: Harness, capsys: Capsys) -> None:
    """The activity-log task prints "--- BACKGROUND TASK: Creating log file ---" when it finds no
    activity_log.txt, that is for the first request only, and not when the file exists."""

    def not_yet_announced() -> None:
        out = capsys.readouterr().out
        assert CREATING_LOG_FILE not in out, f"expected no notice while the task was held, saw {out!r}"

    url = "/log-activity/bruce@wayne.enterprises"
    await held_task(harness, "log_batcomputer_activity", url, while_held=not_yet_announced)
    first = capsys.readouterr().out.splitlines()
    assert first.count(CREATING_LOG_FILE) == 1, (
        f"expected the first request, which finds no log file, to announce it once; saw {first}")
    _, raised = await harness.complete(harness.post(f"{url}?activity_description=Second%20visit"))
    assert raised is None, f"expected the second request to end cleanly, saw it raise {raised!r}"
    second = capsys.readouterr().out
    assert CREATING_LOG_FILE not in second, (
        f"expected no notice from the second request, which finds the file; saw {second!r}")
    log = harness.data_dir / "batcomputer_logs" / "activity_log.txt"
    expected = ("User bruce@wayne.enterprises activity: Generic activity logged.\n"
                "User bruce@wayne.enterprises activity: Second visit\n")
    assert_file(log, expected)


@requirement("SEED-005", MUST)
@needs(SEEDS)
async def test_intel_report_task_gets_the_model(harness: Harness) -> None:
    """POST /request-intel-report answers at once with a confirmation naming the report and the recipient;
    only after the response does simulate_intel_report_compilation receive the IntelReportRequest model
    instance itself."""
    fields = {"recipient_email": "bruce@wayne.enterprises", "report_name": "Joker Sightings"}
    response = await held_task(harness, "simulate_intel_report_compilation", "/request-intel-report",
                               json=fields)
    assert response.status == 200, f"expected 200, got {response}"
    confirmation = response.text
    assert fields["report_name"] in confirmation and fields["recipient_email"] in confirmation, (
        f"expected a confirmation naming {fields['report_name']!r} and {fields['recipient_email']!r}, "
        f"got {confirmation!r}")
    (received,), kwargs = harness.started_args("simulate_intel_report_compilation")
    assert kwargs == {}, f"expected no keyword arguments, saw {kwargs!r}"
    assert_model_instance(received, "IntelReportRequest", fields)


@requirement("SEED-006", MUST)
@needs(SEEDS)
async def test_invalid_intel_report_email_runs_no_task(harness: Harness) -> None:
    """POST /request-intel-report with an invalid recipient_email answers 422 naming the field, and no
    background task runs."""
    body = {"recipient_email": "not-an-email", "report_name": "Riddles"}
    call = harness.post("/request-intel-report", json=body)
    response, raised = await harness.complete(call)
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"
    assert response.status == 422, f"expected 422, got {response}"
    (error,) = response.json()["detail"]
    assert (error["type"], error["loc"]) == ("value_error", ["body", "recipient_email"]), (
        f"expected a value_error at body.recipient_email, got {error}")
    assert error["msg"].startswith("value is not a valid email address:"), (
        f"expected 'value is not a valid email address: ...', got {error['msg']!r}")
    assert harness.timeline.first(started()) is None, (
        f"expected no task, saw one run; timeline:\n{harness.timeline.format()}")


# -- seed 002 --------------------------------------------------------------------------------------
@requirement("SEED-007", MUST)
@needs(SEEDS)
async def test_overview_notification_replaces_the_log(harness: Harness) -> None:
    """POST /overview/send-notification/{email} answers {"message": "Notification sent in the background"}
    at once; only after the response does write_notification(email, message="some notification") replace
    log.txt with "notification for {email}: some notification"."""
    log = harness.data_dir / "log.txt"
    log.write_text("an older notification\n")

    def log_untouched() -> None:
        assert_file(log, "an older notification\n")  # unchanged while the task is held

    response = await held_task(harness, "write_notification",
                               "/overview/send-notification/hulk@avengers.org", while_held=log_untouched)
    assert_json(response, {"message": "Notification sent in the background"})
    assert_file(log, "notification for hulk@avengers.org: some notification")
    assert harness.started_args("write_notification") == (
        ("hulk@avengers.org",), {"message": "some notification"})


@requirement("SEED-008", MUST)
@needs(SEEDS)
async def test_overview_tasks_run_in_the_order_added(harness: Harness) -> None:
    """POST /overview/multiple/send-notification/{email} answers {"message": "Message sent"} at once; after
    the response send_email(email, message="Thank you for using our service") runs, and only after it ends
    does write_log("Email sent to {email}") append that text to log.txt."""
    log = harness.data_dir / "log.txt"
    response = await held_task(harness, "send_email",
                               "/overview/multiple/send-notification/hulk@avengers.org",
                               then=("write_log",), while_held=absent(log))
    assert_json(response, {"message": "Message sent"})
    assert_before(harness.timeline, ended("send_email"), started("write_log"),
                  first_is="send_email ending", then_is="write_log starting")
    assert_file(log, "Email sent to hulk@avengers.org")
    assert harness.started_args("send_email") == (
        ("hulk@avengers.org",), {"message": "Thank you for using our service"})
    assert harness.started_args("write_log") == (("Email sent to hulk@avengers.org",), {})


@requirement("SEED-009", MUST)
@needs(SEEDS)
@pytest.mark.parametrize(("url", "task"), [
    ("/process/", "process_data"),
    ("/async/process/", "async_process_data"),
])
async def test_overview_processing_runs_after_the_response(harness: Harness, url: str, task: str) -> None:
    """POST /process/ and POST /async/process/ answer {"status": "processing started"} at once; only after the
    response does the sync process_data or the async async_process_data receive the posted object and record
    it in processed.log."""
    data = {"hero": "Vision", "stones": ["mind"], "level": 3}
    processed = harness.data_dir / "processed.log"
    response = await held_task(harness, task, url, json=data, while_held=absent(processed))
    assert_json(response, {"status": "processing started"})
    assert_file(processed, f"{task}: {json.dumps(data, sort_keys=True)}\n")
    assert harness.started_args(task) == ((data,), {})


@requirement("SEED-010", MUST)
@needs(SEEDS)
async def test_overview_item_is_created_before_its_tasks(harness: Harness) -> None:
    """POST /overview/items/ creates the item through the get_database dependency and answers with it, id
    included, before any task starts; then update_search_index receives the created item's id and
    send_welcome_email its user_email, in that order."""
    item = {"name": "Mjolnir", "description": "Only the worthy", "user_email": "thor@asgard.org"}
    index, welcome = harness.data_dir / "search_index.txt", harness.data_dir / "welcome_emails.log"
    response = await held_task(harness, "update_search_index", "/overview/items/", json=item,
                               then=("send_welcome_email",), while_held=absent(index, welcome))
    created = assert_json(response, {"id": 1, **item})
    assert_file(index, f"{created['id']}: Mjolnir\n")
    assert_file(welcome, "Welcome email to thor@asgard.org\n")
    assert harness.started_args("update_search_index") == ((created["id"],), {})
    assert harness.started_args("send_welcome_email") == (("thor@asgard.org",), {})


@requirement("SEED-011", MUST)
@needs(SEEDS)
async def test_overview_registration_emails_after_the_response(harness: Harness) -> None:
    """POST /register/ answers {"message": "User registered successfully"} at once; only after the response
    does send_welcome_email(email, name) send the welcome email."""
    welcome = harness.data_dir / "welcome_emails.log"
    user = {"email": "peter@dailybugle.com", "name": "Peter Parker"}
    response = await held_task(harness, "send_welcome_email", "/register/", json=user,
                               while_held=absent(welcome))
    assert_json(response, {"message": "User registered successfully"})
    assert_file(welcome, "Welcome email to peter@dailybugle.com (Peter Parker)\n")
    assert harness.started_args("send_welcome_email") == (("peter@dailybugle.com", "Peter Parker"), {})


@requirement("SEED-012", MUST)
@needs(SEEDS)
async def test_overview_upload_is_saved_first_and_processed_later(harness: Harness) -> None:
    """POST /upload/ saves the uploaded file before the response is sent and answers {"message": "File
    uploaded and processing started"}; only after the response do process_uploaded_file(file_path) and then
    generate_thumbnails(file_path) leave their effects."""
    content = b"\x89PNG not really an image"
    saved = harness.data_dir / "uploads" / "snap.png"
    processed, thumbnail = Path(f"{saved}.processed"), Path(f"{saved}.thumbnail")

    def saved_already() -> None:
        assert saved.exists(), "the upload is not saved when the response goes out"
        assert saved.read_bytes() == content

    response = await held_task(harness, "process_uploaded_file", "/upload/", **multipart("snap.png", content),
                               then=("generate_thumbnails",), before_response=saved_already,
                               while_held=absent(processed, thumbnail))
    assert_json(response, {"message": "File uploaded and processing started"})
    assert_file(processed, f"processed {len(content)} bytes\n")
    assert_file(thumbnail, "thumbnail of snap.png\n")
    for task in ("process_uploaded_file", "generate_thumbnails"):
        assert harness.started_args(task) == ((str(saved),), {})


# -- seed 003 --------------------------------------------------------------------------------------
@requirement("SEED-013", MUST)
@needs(SEEDS)
async def test_chapter8_notification_is_logged_after_the_response(harness: Harness) -> None:
    """POST /chapter8/send-notification/{email} answers {"message": "Notification sent successfully!"} at
    once; only after the response does write_log("Notification sent to: {email}") append that line to
    log.txt."""
    log = harness.data_dir / "log.txt"
    response = await held_task(harness, "write_log", "/chapter8/send-notification/test@example.com",
                               while_held=absent(log))
    assert_json(response, {"message": "Notification sent successfully!"})
    assert_file(log, "Notification sent to: test@example.com\n")
    assert harness.started_args("write_log") == (("Notification sent to: test@example.com",), {})


# -- seed 004 --------------------------------------------------------------------------------------
@requirement("SEED-014", MUST)
@needs(SEEDS)
async def test_guide_item_is_logged_after_the_response(harness: Harness) -> None:
    """POST /guide/items/?name={name} answers {"message": "Item {name} created successfully!"} at once; only
    after the response does write_log("Item {name} was created.") append that line to log.txt."""
    log = harness.data_dir / "log.txt"
    response = await held_task(harness, "write_log", "/guide/items/?name=Widget", while_held=absent(log))
    assert_json(response, {"message": "Item Widget created successfully!"})
    assert_file(log, "Item Widget was created.\n")
    assert harness.started_args("write_log") == (("Item Widget was created.",), {})


@requirement("SEED-015", MUST)
@needs(SEEDS)
async def test_guide_email_is_sent_after_the_response(harness: Harness) -> None:
    """POST /send-email/?email={email} answers {"message": "Email will be sent soon"} at once; only after the
    response does send_email(email, "Welcome!", "Thank you for signing up!") append the email to
    emails.log."""
    emails = harness.data_dir / "emails.log"
    response = await held_task(harness, "send_email", "/send-email/?email=new.user@example.com",
                               while_held=absent(emails))
    assert_json(response, {"message": "Email will be sent soon"})
    body = "Thank you for signing up!"
    assert_file(emails, f"To: new.user@example.com\nSubject: Welcome!\n\n{body}\n\n")
    assert harness.started_args("send_email") == (("new.user@example.com", "Welcome!", body), {})
