"""EmailStr on the seed 001 routes: an invalid address never reaches a task, a valid one arrives normalised.

Errors are checked by type and location only: email-validator's wording changes between releases.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from bgtasks_conformance import MUST, AsgiCall, Harness, Response, needs, requirement
from bgtasks_conformance.observe.events import ended, started
from bgtasks_conformance.plugin.core import HarnessFactory
from bgtasks_conformance.target.contract import SEEDS

from .strategies import email_addresses, not_email_addresses

pytestmark = pytest.mark.anyio

GENERIC_ACTIVITY = "Generic activity logged."


@dataclass(frozen=True)
class Route:
    """One of the two EmailStr routes: how an address is sent, where its error points, what the task got."""

    name: str
    task: str
    loc: list[str]

    def post(self, harness: Harness, address: str) -> AsgiCall:
        if self.name == "log-activity":  # one path segment, percent-encoded as a client sends it
            return harness.post(f"/log-activity/{quote(address, safe='@')}")
        body = {"recipient_email": address, "report_name": "Riddles"}
        return harness.post("/request-intel-report", json=body)

    def received(self, harness: Harness) -> Any:
        """The address the task received: its one positional argument, or that model's recipient_email."""
        args, kwargs = harness.started_args(self.task)
        assert len(args) == 1, f"expected {self.task} to receive one argument, saw {args!r}, {kwargs!r}"
        return args[0] if self.name == "log-activity" else getattr(args[0], "recipient_email", args[0])

    def check_effects(self, harness: Harness, response: Response, address: str) -> None:
        """The confirmation, and the activity log, name ``address``."""
        if self.name == "log-activity":
            expected = {"message": f"Activity logging initiated for {address}."}
            assert response.json() == expected, f"expected {expected}, got {response.text}"
            log = harness.data_dir / "batcomputer_logs" / "activity_log.txt"
            assert log.is_file(), f"expected {log.relative_to(harness.data_dir)} written, saw no such file"
            line = f"User {address} activity: {GENERIC_ACTIVITY}\n"
            assert log.read_text() == line, f"expected the log {line!r}, saw {log.read_text()!r}"
        else:
            body = response.json()
            message = body.get("message") if isinstance(body, dict) else None
            assert isinstance(message, str) and address in message, (
                f"expected a message naming {address!r}, got {response.text}")


ROUTES = [
    Route("log-activity", "log_batcomputer_activity", ["path", "user_email"]),
    Route("request-intel-report", "simulate_intel_report_compilation", ["body", "recipient_email"]),
]
routes = pytest.mark.parametrize("route", ROUTES, ids=[route.name for route in ROUTES])
examples = settings(
    deadline=None, database=None,  # examples: the hypothesis profile (README)
    phases=[Phase.generate, Phase.shrink],  # no explain phase: it takes half a minute on a broken target
    report_multiple_bugs=False,  # one AssertionError, not an ExceptionGroup the report calls a target error
    # harness_factory hands out a fresh harness per example, so sharing it is safe.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def contents(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder``, with the bytes of each file (``None`` for a directory)."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in folder.rglob("*")}


def error_places(response: Response) -> list[tuple[Any, Any]]:
    """``(type, loc)`` of each error in FastAPI's 422 body; nothing when the body has another shape."""
    body = response.json()
    detail = body.get("detail") if isinstance(body, dict) else None
    errors = detail if isinstance(detail, list) else []
    return [(error.get("type"), error.get("loc")) for error in errors if isinstance(error, dict)]


async def assert_rejected(harness: Harness, route: Route, address: str) -> None:
    """422 with one value_error at the route's field, no task started, the data directory unchanged."""
    before = contents(harness.data_dir)
    response, raised = await harness.complete(route.post(harness, address))
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"
    assert response.status == 422, f"expected {address!r} rejected with 422, got {response.status} {response.text}"
    assert error_places(response) == [("value_error", route.loc)], (
        f"expected one value_error at {route.loc} for {address!r}, got {response.text}")
    assert harness.timeline.first(started(route.task)) is None, (
        f"expected no task for {address!r}, saw {route.task} run; timeline:\n{harness.timeline.format()}")
    after = contents(harness.data_dir)
    changed = sorted(path for path in after.keys() | before.keys() if after.get(path) != before.get(path))
    assert after == before, f"expected no file written for {address!r}, saw {changed} change"


async def assert_accepted(harness: Harness, route: Route, address: str, normalised: str) -> None:
    """200, the task ran and received ``normalised``, and the effects name it."""
    response, raised = await harness.complete(route.post(harness, address))
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"
    assert response.status == 200, f"expected {address!r} accepted with 200, got {response.status} {response.text}"
    assert harness.timeline.first(ended(route.task)) is not None, (
        f"expected {route.task} to end without an error, saw it raise; timeline:\n{harness.timeline.format()}")
    received = route.received(harness)
    assert received == normalised, f"sent {address!r}: expected the task to receive {normalised!r}, saw {received!r}"
    route.check_effects(harness, response, normalised)


@requirement("EMAIL-001", MUST)
@needs(SEEDS)
@routes
@pytest.mark.parametrize("address", [
    "bruce.wayne",  # no @-sign
    "bruce@",
    "@wayne.enterprises",
    "bruce@@wayne.enterprises",
    "bruce wayne@wayne.enterprises",
    "bruce..wayne@wayne.enterprises",
    "bruce@wayne",  # a single-label domain
    '"bruce wayne"@wayne.enterprises',  # a quoted local part
    "bruce@[127.0.0.1]",  # an IP-literal domain
    "Bruce <bruce@wayne.enterprises",  # an unclosed display-name form
])
async def test_an_invalid_address_schedules_nothing(harness: Harness, route: Route, address: str) -> None:
    """POST /log-activity/{user_email} and POST /request-intel-report answer an address that is not a valid
    email address with 422 and one error, of type value_error, located at the field (path user_email, body
    recipient_email); no background task starts and nothing is written to the data directory."""
    await assert_rejected(harness, route, address)


@requirement("EMAIL-002", MUST)
@needs(SEEDS)
@routes
@pytest.mark.parametrize(("address", "normalised"), [
    ("Bruce@Wayne.ENTERPRISES", "Bruce@wayne.enterprises"),
    ("  alfred@wayne.enterprises  ", "alfred@wayne.enterprises"),
    ("Bruce Wayne <Bruce@WAYNE.Enterprises>", "Bruce@wayne.enterprises"),
    ('"Wayne, Bruce" <bruce@Wayne.Enterprises>', "bruce@wayne.enterprises"),
    ("alfred@XN--MNCHEN-3YA.DE", "alfred@münchen.de"),
])
async def test_a_valid_address_arrives_normalised(
    harness: Harness, route: Route, address: str, normalised: str
) -> None:
    """A valid address reaches the task normalised: the domain lower-cased (an IDNA domain in its Unicode
    form), the local part as sent, surrounding whitespace stripped, and the display-name form "Name
    <address>" reduced to the address; the confirmation and the activity log name the normalised address."""
    await assert_accepted(harness, route, address, normalised)


@requirement("EMAIL-003", MUST)
@needs(SEEDS)
@routes
@pytest.mark.parametrize("address", [
    "bruce@wayne.enterprises\r\nBcc: joker@arkham.asylum",
    "\nbruce@wayne.enterprises",
    "bruce@wayne.enterprises\r",
    "bru\rce@wayne.enterprises",
    "bruce@wayne.enter\nprises",
    "Bruce <bruce@wayne.enterprises>\r\n",
])
async def test_cr_or_lf_is_rejected(harness: Harness, route: Route, address: str) -> None:
    """An address with a carriage return or a line feed anywhere in it is rejected by both routes with 422,
    an error of type value_error at the field, and no task runs."""
    await assert_rejected(harness, route, address)


@requirement("EMAIL-004", MUST)
@needs(SEEDS)
@routes
@pytest.mark.parametrize("domain", [
    "batcave.test", "batcave.local", "batcave.invalid", "1.0.0.127.in-addr.arpa", "batcave.onion",
    "batcave.localhost",
])
async def test_special_use_domains_are_rejected(harness: Harness, route: Route, domain: str) -> None:
    """An address at a special-use or reserved domain (.test, .local, .invalid, .arpa, .onion, .localhost) is
    rejected by both routes with 422, an error of type value_error at the field, and no task runs."""
    await assert_rejected(harness, route, f"bruce@{domain}")


@requirement("EMAIL-005", MUST)
@needs(SEEDS)
@routes
@examples
@given(pair=email_addresses())
async def test_any_valid_address_arrives_normalised(
    harness_factory: HarnessFactory, route: Route, pair: tuple[str, str]
) -> None:
    """Every address from a strategy of valid addresses (dot-atom local parts, mixed-case domains, surrounding
    whitespace, display names) is accepted by both routes and reaches the task normalised."""
    address, normalised = pair
    async with harness_factory() as harness:
        await assert_accepted(harness, route, address, normalised)


@requirement("EMAIL-006", MUST)
@needs(SEEDS)
@routes
@examples
@given(address=not_email_addresses())
async def test_no_non_address_is_accepted(
    harness_factory: HarnessFactory, route: Route, address: str
) -> None:
    """No string from a strategy of non-addresses (no @-sign, nothing before or after it, a special-use
    domain, a CR or LF inserted) is accepted by either route: each answers 422 with an error of type
    value_error at the field, and no task runs."""
    async with harness_factory() as harness:
        await assert_rejected(harness, route, address)
