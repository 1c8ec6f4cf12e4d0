"""The self-check's verdict and table on hand-made runs, and its runs against real broken implementations."""

from __future__ import annotations

from pathlib import Path

import pytest

from bgtasks_conformance.results.registry import load_registry
from bgtasks_conformance.sample_app.broken import GALLERY
from bgtasks_conformance.selfcheck import (
    FAST_TIMEOUTS,
    SECOND_REFERENCES,
    Broken,
    Run,
    broken_jobs,
    judge,
    judge_second_reference,
    merged,
    message_problem,
    reference_job,
    run_suite,
    second_reference_jobs,
    table,
)

GOOD = "{rid} [MUST]: expected task 't' to start once, saw it start twice; timeline:\n    [1] request"


def run(name: str, caught: dict[str, str], exit_code: int = 1, messages: dict[str, list[str]] | None = None) -> Run:
    """A run in which every requirement passed but ``caught``; each caught one has a good failure message."""
    outcomes = {rid: "passed" for rid in load_registry()} | caught
    said = {rid: [GOOD.format(rid=rid)] for rid in caught} | (messages or {})
    return Run(name, f"mod:{name}", exit_code, 1.5, outcomes, "output", said)


def test_a_passing_reference_and_catching_gallery_have_no_problems() -> None:
    every = {rid: "failed" for rid in load_registry()}
    gallery = [Broken("all", "mod:all", frozenset({"POST-001"}), "breaks everything")]
    assert judge(run("reference", {}, 0), gallery, {"all": run("all", every)}) == []


def test_every_kind_of_problem_is_named() -> None:
    gallery = [
        Broken("escapes", "mod:escapes", frozenset({"POST-001", "POST-002"}), "x"),
        Broken("passes", "mod:passes", frozenset({"POST-003"}), "y"),
        Broken("broken_run", "mod:broken_run", frozenset({"POST-004"}), "z"),
        Broken("declares_nothing", "mod:declares_nothing", frozenset(), "w"),
        Broken("declares_unknown", "mod:declares_unknown", frozenset({"NOPE-001"}), "v"),
    ]
    runs = {
        "escapes": run("escapes", {"POST-001": "failed"}),
        "passes": run("passes", {}, 0),
        "broken_run": Run("broken_run", "mod:broken_run", 4, 0.5, {}, "ERROR: usage"),
        "declares_nothing": run("declares_nothing", {"POST-005": "failed"}),
        "declares_unknown": run("declares_unknown", {"POST-005": "failed"}),
    }
    problems = judge(run("reference", {"ERR-001": "failed"}, 1), gallery, runs)
    text = "\n".join(problems)
    assert "the reference mod:reference does not pass" in text and "ERR-001" in text
    assert "escapes escapes POST-002" in text
    assert "passes passes the whole suite" in text
    assert "broken_run: the suite did not run (exit 4)" in text
    assert "declares_nothing declares nothing" in text
    assert "declares_unknown declares unknown requirements NOPE-001" in text
    assert "no broken implementation is caught by" in text


def test_a_reference_informational_may_neither_fails_it_nor_catches_a_broken_one() -> None:
    reference = run("reference", {"SYNC-008": "informational"}, 0)
    gallery = [Broken("one", "mod:one", frozenset({"SYNC-008"}), "x")]
    every = {rid: "failed" for rid in load_registry()} | {"SYNC-008": "informational"}
    problems = judge(reference, gallery, {"one": run("one", every)})
    assert problems == ["one escapes SYNC-008 (caught by "
                        + ", ".join(sorted(set(every) - {"SYNC-008"})) + ")"]


# -- requirements the reference did not test -------------------------------------------------------------
def test_requirements_the_reference_did_not_test_need_no_catch() -> None:
    """Wire-tier requirements are deselected by default: untested in the reference, caught by nobody."""
    untested = {"WIRE-001": "untested", "WIRE-002": "untested"}
    tested = {rid: "failed" for rid in load_registry() if rid not in untested}
    gallery = [Broken("all", "mod:all", frozenset({"POST-001"}), "x")]
    runs = {"all": run("all", tested | untested)}
    assert judge(run("reference", untested, 0), gallery, runs) == []


def test_a_requirement_the_reference_tested_must_be_caught() -> None:
    untested = {"WIRE-001": "untested"}
    tested = {rid: "failed" for rid in load_registry() if rid not in {*untested, "POST-008"}}
    gallery = [Broken("all", "mod:all", frozenset({"POST-001"}), "x")]
    problems = judge(run("reference", untested, 0), gallery, {"all": run("all", tested | untested)})
    assert problems == ["no broken implementation is caught by: POST-008"]


def test_a_may_the_reference_does_not_meet_has_shown_its_test_can_fail() -> None:
    reference = run("reference", {"SYNC-008": "informational"}, 0)
    tested = {rid: "failed" for rid in load_registry() if rid != "SYNC-008"}
    gallery = [Broken("all", "mod:all", frozenset({"POST-001"}), "x")]
    assert judge(reference, gallery, {"all": run("all", tested)}) == []


# -- failure messages ------------------------------------------------------------------------------------
@pytest.mark.parametrize("message", [
    GOOD.format(rid="ORDER-001"),
    "ORDER-001 [MUST]: expected task.start of 2 tasks in the order added, each once; saw 2, first difference",
    "ORDER-001 [MUST]: expected the final body chunk before task 'a' starting; task 'a' starting came first",
    "ORDER-001 [MAY]: Expected 422 for 'x', got 200 {}\nassert 200 == 422",
    "ORDER-001 [SHOULD]: the tasks saw {'sync': None}, expected 'request-7' in both",
])
def test_a_message_naming_its_requirement_with_expected_and_seen_passes(message: str) -> None:
    assert message_problem("ORDER-001", message) is None


@pytest.mark.parametrize(("message", "lack"), [
    ("ORDER-001 [MUST]: assert (1, 2) == (2, 1)\n  At index 0 diff: 1 != 2", "what was expected or what was seen"),
    ("ORDER-001 [MUST]: the task received a copy: ['original'], not the list passed\nassert ['a'] is ['a']",
     "what was expected or what was seen"),
    ("ORDER-001 [MUST]: expected no task to run after 'boom' raised; timeline:\n  [5] task.start task='saw'",
     "what was seen"),
    ("ORDER-001 [MUST]: task 's' started in 'MainThread'; saw no worker\nassert 'expected' == 'x'",
     "what was expected"),
    ("ORDER-002 [MUST]: expected task 't' to start once, saw it start twice", "does not name ORDER-001"),
    ("expected task 't' to start once, saw it start twice", "does not name ORDER-001"),
])
def test_a_message_lacking_its_requirement_expected_or_seen_is_a_problem(message: str, lack: str) -> None:
    """Bare asserts show values, not which is expected; what the timeline dump or pytest's explanation
    happens to contain does not count."""
    problem = message_problem("ORDER-001", message)
    assert problem is not None and lack in problem


def test_the_judge_names_a_catching_test_whose_message_lacks_expected_and_seen() -> None:
    gallery = [Broken("bare", "mod:bare", frozenset({"ARGS-001"}), "x")]
    caught = {rid: "failed" for rid in load_registry()}
    messages = {"ARGS-001": [GOOD.format(rid="ARGS-001"), "ARGS-001 [MUST]: assert (1, 2) == (2, 1)"],
                "ARGS-002": []}
    problems = judge(run("reference", {}, 0), gallery, {"bare": run("bare", caught, messages=messages)})
    assert len(problems) == 2
    assert problems[0].startswith("bare: the failure message of ARGS-001 does not show what was expected or what "
                                  "was seen:\nARGS-001 [MUST]: assert (1, 2) == (2, 1)")
    assert problems[1] == "bare: ARGS-002 caught it without a failure message"


# -- the runs --------------------------------------------------------------------------------------------
def test_the_reference_keeps_the_default_timeouts_and_a_broken_one_runs_what_it_declares() -> None:
    assert reference_job("app:make").options == ("--bgtasks-tier", "all")
    broken = Broken("b", "mod:b", frozenset({"POST-002", "ARGS-001"}), "x")
    (job,) = broken_jobs(broken)
    assert job.options[:len(FAST_TIMEOUTS)] == FAST_TIMEOUTS
    assert job.options[len(FAST_TIMEOUTS):] == ("-p", "bgtasks_conformance.selfcheck", "--bgtasks-tier", "asgi",
                                                "-k", "ARGS-001 or POST-002")
    assert all("-k" not in job.options for job in broken_jobs(broken, full=True))


def test_what_only_a_real_server_shows_runs_in_the_wire_tier_with_the_default_timeouts() -> None:
    broken = Broken("b", "mod:b", frozenset({"ERR-002", "WIRE-001", "SHUT-001"}), "x")
    asgi, wire = broken_jobs(broken)
    assert asgi.name == "b" and asgi.options[-4:] == ("--bgtasks-tier", "asgi", "-k", "ERR-002")
    assert wire.name == "b[wire]"
    assert wire.options == ("-p", "bgtasks_conformance.selfcheck", "--bgtasks-tier", "wire",
                            "-k", "SHUT-001 or WIRE-001")
    (only_wire,) = broken_jobs(Broken("w", "mod:w", frozenset({"LOAD-001"}), "x"))
    assert only_wire.name == "w[wire]"
    assert [job.name for job in broken_jobs(broken, full=True)] == ["b", "b[wire]"]


def test_the_runs_of_both_tiers_merge_into_one() -> None:
    asgi = Run("b", "mod:b", 1, 2.0, {"ERR-002": "failed", "WIRE-001": "untested"}, "asgi out",
               {"ERR-002": ["m1"]}, {"ERR-002": 0.5})
    wire = Run("b[wire]", "mod:b", 0, 3.0, {"ERR-002": "untested", "WIRE-001": "passed"}, "wire out", {}, {})
    both = merged("b", [asgi, wire])
    assert (both.name, both.exit_code, both.seconds) == ("b", 1, 5.0)
    assert both.outcomes == {"ERR-002": "failed", "WIRE-001": "passed"}
    assert both.caught_by == ["ERR-002"] and both.messages["ERR-002"] == ["m1"]
    assert both.output == "asgi out\nwire out"


@pytest.mark.parametrize(("name", "rid", "expected", "seen"), [
    ("reversed_args", "ARGS-001", "expected the positional arguments ('first', 2, 3.5,", "saw ('', {'k': 'v'},"),
    ("swallows_errors", "ERR-002", "expected the task's ScenarioFailure('task boom failed as planned') to propagate",
     "saw it lost: the app call returned normally"),
    ("drops_work_when_client_leaves", "DISC-001", "expected every task to end or raise, or else the app call to raise",
     "unfinished and the call returned normally"),  # the wire tier
    ("denial_drops_background", "WS-001", "expected the denial response's tasks ['first', 'second'] to run",
     "saw none end"),
    ("denial_tasks_before_body", "WS-002", "expected the final websocket.http.response.body message before the first "
     "task's start", "the first task's start came first"),
])
def test_a_broken_implementation_is_caught_with_a_message_of_expected_and_seen(
    tmp_path: Path, name: str, rid: str, expected: str, seen: str
) -> None:
    """The suite, run as the self-check runs it, catches the broken implementation by ``rid``; the failure
    message names the requirement and shows what was expected and what was seen. Several of the
    requirement's tests would fail: once one has, the others are skipped."""
    target = next(b.target for b in GALLERY if b.name == name)
    (job,) = broken_jobs(Broken(name, target, frozenset({rid}), ""))
    result = run_suite(job, tmp_path)
    assert result.exit_code == 1 and result.outcomes[rid] == "failed", result.output
    assert result.caught_by == [rid], f"expected only {rid} selected and caught, saw {result.caught_by}"
    (message,) = result.messages[rid]
    assert message_problem(rid, message) is None, message
    assert message.startswith(f"{rid} [MUST]: ") and expected in message and seen in message, message


def test_the_table_shows_time_and_what_caught_each() -> None:
    gallery = [Broken("one", "mod:one", frozenset({"POST-001"}), "x"),
               Broken("two", "mod:two", frozenset(), "y")]
    runs = {"one": run("one", {"POST-001": "failed", "ARGS-001": "non-strict"}),
            "two": Run("two", "mod:two", 4, 0.2, {}, "")}
    lines = table(run("reference", {}, 0), gallery, runs).splitlines()
    assert lines[0].split() == ["implementation", "time", "caught", "by"]
    assert "ARGS-001, POST-001" in lines[2] and "1.5s" in lines[2]
    assert "DID NOT RUN (exit 4)" in lines[3]


def test_a_second_reference_passes_with_its_declared_deviations_only() -> None:
    declared = run("reference litestar_app", {"ERR-002": "expected-failure"}, 0)
    assert judge_second_reference(declared) is None
    undeclared = run("reference litestar_app", {"ERR-002": "expected-failure", "POST-001": "failed"}, 1)
    problem = judge_second_reference(undeclared)
    assert problem is not None and problem.startswith(
        "the second reference mod:reference litestar_app does not pass with its declarations: exit 1, "
        "not passed: POST-001")
    assert "declared: ERR-002" in table(run("reference", {}, 0), [], {}, [declared])


def test_a_second_reference_without_its_framework_is_skipped_with_a_word(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(SECOND_REFERENCES, "nowhere:create_app", "no_such_framework_xyz")
    jobs, notes = second_reference_jobs(["bgtasks_conformance.litestar_app:create_app", "nowhere:create_app"])
    assert [(job.name, job.options) for job in jobs] == [("reference litestar_app", ("--bgtasks-tier", "all"))]
    assert notes == ["second reference nowhere:create_app skipped: no_such_framework_xyz is not installed "
                     "(pip install 'bgtasks-conformance[no_such_framework_xyz]')"]
