"""Load with nothing lost: thousands of requests, hundreds in flight, every task accounted for, per server.

One load run per server (a module-scoped fixture, bounded by ``--bgtasks-load-requests``,
``--bgtasks-load-concurrency`` and ``--bgtasks-load-timeout``) serves the three requirements; each test reports the
counts (in the JSON report and in its failure message). The run itself is ``bgtasks_conformance.drive.load``.
A run that missed only its time bound while still progressing (a busy machine) is inconclusive, with what was
measured and the option to raise; a run that stalls (nothing happens for --bgtasks-wait-timeout while a response
is awaited: it waits for its own task) is a failure whatever the speed.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bgtasks_conformance import MAY, MUST, requirement, wire_tier
from bgtasks_conformance.drive.load import LoadResult, run_load
from bgtasks_conformance.drive.servers import LiveServer, Switchboard
from bgtasks_conformance.harness import Timeouts, open_harness
from bgtasks_conformance.observe.timeline import ExpectationFailed
from bgtasks_conformance.plugin.wire import LOAD_SUMMARY, LoadSettings, serving, shared_server
from bgtasks_conformance.results.outcomes import inconclusive
from bgtasks_conformance.target.loader import Target

pytestmark = wire_tier

Observe = Callable[[str, Any], None]


async def _load(target: Target, data_dir: Path, timeouts: Timeouts, server: LiveServer, switchboard: Switchboard,
                settings: LoadSettings) -> LoadResult:
    async with open_harness(target, data_dir, timeouts) as harness, \
            serving(harness, server, switchboard) as wire:
        return await run_load(wire, settings.requests, settings.concurrency, settings.timeout)


@pytest.fixture(scope="module")
def load(server_kind: str, conformance_target: Target, timeouts: Timeouts, load_settings: LoadSettings,
         wire_servers: dict[str, tuple[LiveServer, Switchboard]], tmp_path_factory: pytest.TempPathFactory,
         ) -> LoadResult:
    """The load run against a fresh app under ``server_kind``, in an event loop of its own."""
    server, switchboard = shared_server(wire_servers, server_kind, timeouts.wait)
    data_dir = Path(tempfile.mkdtemp(dir=tmp_path_factory.mktemp(f"load-{server_kind}")))
    with ThreadPoolExecutor(1, thread_name_prefix="bgtasks-load") as pool:
        return pool.submit(asyncio.run, _load(conformance_target, data_dir, timeouts, server, switchboard,
                                              load_settings)).result()


def expect(holds: bool, message: str) -> None:
    """Fail with ``message`` alone (the whole result object would bury it)."""
    __tracebackhide__ = True
    if not holds:
        raise ExpectationFailed(message)


# The counts that are behaviour (the same in every run of the same versions); the rest (peaks in flight, event
# counts) and the timings are measurements: reported, never compared.
BEHAVIOUR_COUNTS = ("requests_sent", "responses_received", "calls_into_the_app", "tasks_planned", "tasks_that_must_run",
                    "tasks_started", "tasks_ended", "tasks_raised", "requests_with_a_raising_task",
                    "tasks_after_a_raising_task_planned", "tasks_after_a_raising_task_that_ran")


def only_slow(load: LoadResult, *problems: list[str]) -> None:
    """Inconclusive when the run missed only its time bound (a busy machine), with what was measured."""
    __tracebackhide__ = True
    if load.slow and not any(problems):
        inconclusive("; ".join(load.slow) + f" (measured: {load.headline()}; "
                     f"{load.counts['response_waits_extended']} response waits extended while the run progressed)")


def report(load: LoadResult, observe: Observe, measure: Observe) -> None:
    observe(f"load[{load.server}]", {key: load.counts[key] for key in BEHAVIOUR_COUNTS})
    measure(f"load[{load.server}]", {**{key: value for key, value in sorted(load.counts.items())
                                        if key not in BEHAVIOUR_COUNTS}, "seconds": round(load.seconds, 3)})
    measure(f"{LOAD_SUMMARY}[{load.server}]", load.headline())


@requirement("LOAD-001", MUST)
def test_every_request_is_answered_before_its_tasks_end(load: LoadResult, observe: Observe, measure: Observe) -> None:
    """Under load, with hundreds of requests in flight and thousands in all, each adding several sync and async
    background tasks of which some raise, the server answers every request with its complete response while
    that request's first task is still running."""
    report(load, observe, measure)
    only_slow(load, load.answered, load.delayed)
    expect(not load.answered, load.explain(load.answered, "every request to get its complete response",
                                           "without it"))
    expect(not load.delayed, load.explain(load.delayed, "every response while its first task was still held",
                                          "held back by their own tasks"))
    expect(load.counts["responses_received"] == load.requests,
           f"expected {load.requests} responses, saw {load.counts['responses_received']}; {load.summary()}")


@requirement("LOAD-002", MUST)
def test_every_task_runs_once_in_order(load: LoadResult, observe: Observe, measure: Observe) -> None:
    """Under the same load, every task up to and including the first one that raises in its response runs exactly
    once, no task runs twice, and the tasks of each response start in the order they were added."""
    report(load, observe, measure)
    only_slow(load, load.accounting)
    expect(not load.accounting, load.explain(load.accounting, "each task up to the first raising one to run once, "
                                             "in the order added", "that did not"))
    expect(load.counts["requests_sent"] == load.requests,
           f"expected {load.requests} requests sent, saw {load.counts['requests_sent']}: the run stops at the first "
           f"request without its complete response (LOAD-001); {load.summary()}")


@requirement("LOAD-003", MAY)
def test_no_task_runs_after_a_raising_one(load: LoadResult, observe: Observe, measure: Observe) -> None:
    """Under the same load, when a background task raises, the remaining tasks of its response do not run."""
    report(load, observe, measure)
    expect(load.counts["tasks_after_a_raising_task_planned"] > 0,
           f"expected tasks planned after a raising one, saw none; {load.summary()}")
    expect(not load.ran_after_failure, load.explain(load.ran_after_failure, "no task to run after a raising one in "
                                                    "its response", "that did"))
