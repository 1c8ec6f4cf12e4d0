"""Graceful server shutdown with a background task still running, under real servers.

Each test has a server of its own serving a fresh app (its lifespan run by the server). The
client gets the whole response of ``POST /scenario`` while the task ``held`` holds on its gate and
``after`` waits behind it; then the test starts the server's own graceful shutdown, as SIGTERM does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bgtasks_conformance import MAY, MUST, Harness, requirement, wire_tier
from bgtasks_conformance.drive.raw_client import RawClient
from bgtasks_conformance.drive.served import Served, call_summary, fates, served, shutting_down, task_fate, unaccounted
from bgtasks_conformance.drive.servers import SERVER_DEFAULT, SERVER_LOGGERS, default_graceful_timeout
from bgtasks_conformance.observe.events import assert_before, ended
from bgtasks_conformance.observe.timeline import Event, Timeline
from bgtasks_conformance.plugin.core import HarnessFactory
from bgtasks_conformance.results.versions import expected, installed

pytestmark = [pytest.mark.anyio, wire_tier]

FORMS = ("async_function", "function")
GRACE = 1  # seconds: uvicorn takes whole seconds


@pytest.fixture
async def bare(harness_factory: HarnessFactory) -> AsyncIterator[Harness]:
    """A fresh app whose lifespan the server runs."""
    async with harness_factory(lifespan=False) as harness:
        yield harness


async def hold_a_task(live: Served, form: str) -> RawClient:
    """The client has the whole response; ``held`` is running, held on its gate; ``after`` waits behind it."""
    client = await live.connect()
    tasks = [{"id": "held", "form": form, "gate": "held"}, {"id": "after", "form": form}]
    await client.send("POST", "/scenario", {"tasks": tasks})
    await client.read_until(b'"after"]}', "the whole JSON response")
    await live.harness.wait_started("held")
    return client


def stopped(e: Event) -> bool:
    return e.kind == "server.stopped"


def waited_for_both(timeline: Timeline) -> None:
    """Both tasks ended before the lifespan shutdown, and that came before the server stopped."""
    __tracebackhide__ = True
    for task in ("held", "after"):
        assert_before(timeline, ended(task), shutting_down, first_is=f"task {task!r} ending",
                      then_is="the server's lifespan shutdown or stop")
    assert_before(timeline, lambda e: e.kind == "server.lifespan" and e["type"] == "lifespan.shutdown", stopped,
                  first_is="the lifespan shutdown", then_is="the server stopping")


def server_logged(timeline: Timeline, server: str) -> list[str]:
    """What the server's own logger said at WARNING or above once its shutdown began."""
    start = timeline.first(lambda e: e.kind == "server.stopping")
    return [e["message"].splitlines()[0] for e in timeline.select(
        lambda e: e.kind == "server.log" and e["logger"] == SERVER_LOGGERS[server]
        and e["level"] in ("WARNING", "ERROR", "CRITICAL") and start is not None and e.seq > start.seq)]


async def cut_short(bare: Harness, server: str, form: str) -> dict[str, Any]:
    """Hold a task, shut down with a GRACE-second limit; what became of the tasks when the server stopped."""
    async with served(bare, server, graceful_timeout=GRACE) as live:
        await hold_a_task(live, form)
        live.server.request_shutdown()
        await live.stopped(timeout=GRACE + bare.timeouts.wait)
        at_stop = fates(bare.timeline)
        lost = unaccounted(bare.timeline)
    return {"at_stop": at_stop, "lost": lost, "finally": fates(bare.timeline), **call_summary(bare.timeline),
            "server_logs": server_logged(bare.timeline, server)}


@requirement("SHUT-001", MUST)
@pytest.mark.parametrize("form", FORMS)
async def test_a_graceful_shutdown_waits_for_a_running_task(
    bare: Harness, server_kind: str, form: str, observe: Callable[[str, Any], None]
) -> None:
    """On a graceful shutdown without a time limit, the server does not stop while a background task is running: it
    stops, and sends the app its lifespan shutdown, only after every task scheduled before the shutdown has ended.
    """
    async with served(bare, server_kind, graceful_timeout=None) as live:
        client = await hold_a_task(live, form)
        await live.shutdown_waits(client)
        bare.open("held")
        await live.stopped()
    observe(f"{server_kind} {form}", fates(bare.timeline))
    waited_for_both(bare.timeline)


@requirement("SHUT-002", MUST)
@pytest.mark.parametrize("form", FORMS)
async def test_a_graceful_shutdown_timeout_loses_no_task_silently(
    bare: Harness, server_kind: str, form: str, observe: Callable[[str, Any], None]
) -> None:
    """When a graceful-shutdown timeout expires while a background task is running, no task is lost silently: each
    scheduled task has ended or raised, or else the app call raises (the server's cancellation reaches it), and the
    server stops.
    """
    seen = await cut_short(bare, server_kind, form)
    observe(f"{server_kind} {form}", seen)
    assert not seen["lost"], (f"under {server_kind} with a {GRACE}s graceful timeout: expected every task to end or "
                              f"raise, or else the app call to raise; saw {seen['lost']} unfinished and the call "
                              f"returned normally; timeline:\n{bare.timeline.format()}")


@requirement("SHUT-003", MAY)
@pytest.mark.parametrize("form", FORMS)
async def test_what_a_graceful_shutdown_timeout_does_to_a_held_task(
    bare: Harness, server_kind: str, form: str, observe: Callable[[str, Any], None],
    record_era: Callable[[str, Any], None],
) -> None:
    """When a graceful-shutdown timeout expires while a background task is held, the tasks fare as in the reference
    under the same server: an async task is cancelled and sees CancelledError; a sync task keeps running in its worker
    thread after the server has stopped; the tasks after it never run; uvicorn logs the cancellation at ERROR,
    hypercorn logs nothing of its own.
    """
    era = expected("SHUT-003", server_kind)
    record_era(server_kind, era)  # the server's version and the range it matched: never compared as behaviour
    seen = await cut_short(bare, server_kind, form)
    observe(f"{server_kind} {form}", seen)
    held = {"cancelled": "cancelled", "left-running": "running"}[era["async_task" if form.startswith("async") else
                                                                    "sync_task"]]
    want = {"held": held, "after": "not-run", "server logs": era["server_logs"]}
    got = {"held": seen["at_stop"]["held"], "after": seen["at_stop"]["after"], "server logs": bool(seen["server_logs"])}
    assert got == want, (f"under {server_kind}, a {form} task held past the {GRACE}s graceful timeout: expected "
                         f"{want} when the server stopped ({era['expect']}), saw {got}; timeline:\n"
                         f"{bare.timeline.format()}")
    if held == "running":  # released after the server stopped, it runs to its end in its thread
        assert task_fate(bare.timeline, "held") == "ended", (
            f"expected the {form} task to end in its thread once released, saw {seen['finally']}; timeline:\n"
            f"{bare.timeline.format()}")


@requirement("SHUT-004", MAY)
async def test_what_a_graceful_shutdown_does_with_the_default_settings(
    bare: Harness, server_kind: str, observe: Callable[[str, Any], None]
) -> None:
    """With the server's default settings, a graceful shutdown treats a running background task as the reference
    observed: uvicorn waits for it without limit; hypercorn waits 3 seconds, then cancels it.
    """
    era = expected("SHUT-004", server_kind)
    default = default_graceful_timeout(server_kind)
    observe(f"{server_kind} default graceful timeout", default)
    want_default = None if era["default_timeout"] == "none" else float(era["default_timeout"])
    assert default == want_default, (f"expected {server_kind} {installed(server_kind)} to default to a graceful "
                                     f"timeout of {want_default}, saw {default} in its config")
    async with served(bare, server_kind, graceful_timeout=SERVER_DEFAULT) as live:
        client = await hold_a_task(live, "async_function")
        if era["outcome"] == "waits":
            await live.shutdown_waits(client)
            bare.open("held")
            await live.stopped()
        else:
            live.server.request_shutdown()
            await live.stopped(timeout=(default or 0) + bare.timeouts.wait)
        at_stop = fates(bare.timeline)
    observe(f"{server_kind} tasks when it stopped", at_stop)
    if era["outcome"] == "waits":
        waited_for_both(bare.timeline)
    else:
        assert at_stop["held"] == "cancelled", (
            f"expected {server_kind}'s default {default}s limit to cancel the held task ({era['expect']}), saw "
            f"{at_stop}; timeline:\n{bare.timeline.format()}")
