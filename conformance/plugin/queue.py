"""The queue tier's part of the pytest plugin: ``--bgtasks-queue``, its Redis and workers, its fixtures and summary.

The tier is opt-in. Without ``--bgtasks-queue`` the delivery requirements (tests marked ``queue_tier``) are
skipped with how to run them, and a queue-backed target (one that declares ``conformance_queue``) is a usage
error, since nothing would run its tasks. With it, a ``redis-server`` and the target's worker processes
start before the preflight (whose task goes through them) and are stopped at the end of the session, also
when a test fails; a process, port or file left behind fails the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bgtasks_conformance.plugin.settings import settings
from bgtasks_conformance.results.registry import QUEUE_MARK

OPT_IN = ("the queue tier is opt-in: run it with --bgtasks-queue against a queue-backed target, e.g. "
          "--bgtasks-target bgtasks_conformance.queue_app:create_app --bgtasks-queue "
          "(needs redis-server: pip install 'bgtasks-conformance[queue]')")
QUEUE_SUMMARY = "queue_summary"  # observed keys whose value is a line for the terminal summary
_stack_key = pytest.StashKey[Any]()
_lines_key = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{QUEUE_MARK}: a spec test of the queue tier (a real Redis, real workers)")


def start_queue(config: pytest.Config, target: Any) -> None:
    """Start the tier's components for ``target``, or say why the run cannot go on (a usage error)."""
    chosen = settings(config)
    spec = target.choice.spec
    if not chosen.queue:
        if target.queue is not None:
            raise pytest.UsageError(f"target {spec} is queue-backed (it declares conformance_queue): nothing would "
                                    f"run its tasks; add --bgtasks-queue, which starts Redis and its workers")
        return
    if target.queue is None:
        from bgtasks_conformance.target.queue import EXAMPLE

        raise pytest.UsageError(f"--bgtasks-queue: target {spec} declares no conformance_queue, so the suite cannot "
                                f"start its workers; declare them: {EXAMPLE}")
    from bgtasks_conformance.plugin.core import scratch_parent
    from bgtasks_conformance.queue.processes import ProcessError
    from bgtasks_conformance.queue.stack import QueueStack

    stack = QueueStack(target.queue, str(chosen.redis_server), scratch_parent())
    config.stash[_stack_key] = stack
    config.add_cleanup(lambda: stop_queue(config))  # also when the start fails half-way, or the run is interrupted
    try:
        stack.start()
    except ProcessError as error:
        raise pytest.UsageError(f"--bgtasks-queue: {error}") from None


def stop_queue(config: pytest.Config) -> list[str]:
    """Stop the tier's components (once); what was left behind, as problems."""
    stack = config.stash.get(_stack_key, None)
    if stack is None:
        return []
    del config.stash[_stack_key]
    problems: list[str] = stack.stop()
    started = ", ".join(f"{key} {value:.2f}s" for key, value in stack.seconds.items())
    config.stash[_lines_key] = [f"queue tier: {started}; stopped: "
                                + ("; ".join(problems) if problems else "no process, port or file left")]
    return problems


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A queue-tier test that fails: its message ends with what each worker printed while it ran."""
    stack = item.config.stash.get(_stack_key, None)
    if stack is None or item.get_closest_marker(QUEUE_MARK) is None:
        return (yield)
    from bgtasks_conformance.queue import worker_logs

    marked = worker_logs.marks(stack)
    try:
        return (yield)
    except Exception as error:
        worker_logs.append_to(error, worker_logs.since(stack, marked))
        raise


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if settings(config).queue:
        return
    for item in items:
        if item.get_closest_marker(QUEUE_MARK) is not None:
            item.add_marker(pytest.mark.skip(reason=OPT_IN))


@pytest.fixture(scope="session", autouse=True)
def _queue_session(pytestconfig: pytest.Config) -> Iterator[None]:
    """Stops the tier's components at the end of the session; anything they left fails the run."""
    yield
    problems = stop_queue(pytestconfig)
    if problems:
        raise RuntimeError("the queue tier left something behind: " + "; ".join(problems))


@pytest.fixture(scope="session")
def queue_stack(pytestconfig: pytest.Config) -> Any:
    """The running :class:`~bgtasks_conformance.queue.stack.QueueStack` (a queue-tier test skips without one)."""
    stack = pytestconfig.stash.get(_stack_key, None)
    if stack is None:
        pytest.skip(OPT_IN)
    return stack


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = list(config.stash.get(_lines_key, []))
    for reports in terminalreporter.stats.values():
        for report in reports:
            for key, value in getattr(report, "user_properties", []):
                if key == "observed" and str(value[0]).startswith(QUEUE_SUMMARY) and str(value[1]) not in lines:
                    lines.append(str(value[1]))
    if lines:
        terminalreporter.section("queue tier")
        for line in lines:
            terminalreporter.write_line(line)
