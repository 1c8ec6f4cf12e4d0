"""Faults the suite injects into the real queue, and the reconciliation of the queue's records with what ran.

The faults: SIGKILL of the process a task runs in (a prefork child, a work horse, or the worker itself);
SIGSTOP of the broker for a fixed time, then SIGCONT; SIGKILL of the broker and a restart on its port, from
its append-only file. The duration of a pause is the fault itself: it is the only timed wait here.

The records: a target declares ``conformance_queue["records"] = "module:function"``;
``function(broker_url, probe)`` gives the queue's record of each task handed over for the test whose
probe is ``probe`` (``task``, ``state``, ``queued``). :func:`reconcile` compares them with the timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bgtasks_conformance.observe.timeline import Event, Timeline
from bgtasks_conformance.queue.processes import ProcessError, started_at
from bgtasks_conformance.queue.redis import RedisServer
from bgtasks_conformance.queue.workers import Workers
from bgtasks_conformance.target.queue import QueueSpec

FINAL = ("SUCCESS", "FAILURE", "DEAD")  # what a record says of a task that is settled; anything else: not completed
GIVEN_UP = ("FAILURE", "DEAD")  # a dead letter, or a failed record: what a task given up may be recorded as
RECORDS_FIX = ('declare where the queue keeps its record of each task: conformance_queue["records"] = '
               '"module:function", function(broker_url, probe) -> [{"task": ..., "state": ..., "queued": ...}, ...] '
               "(README: The queue tier)")
Records = dict[str, Mapping[str, Any]]


class RecordsError(AssertionError):
    """The target's records cannot be read: not declared, not importable, or not what is asked."""


def records_function(spec: QueueSpec) -> Callable[[str, str], Iterable[Mapping[str, Any]]]:
    if spec.records is None:
        raise RecordsError(f"expected the queue's records to reconcile with what ran, but saw none declared: "
                           f"{RECORDS_FIX}")
    module_name, _, attribute = spec.records.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as error:
        raise RecordsError(f"expected conformance_queue['records'] = {spec.records!r} to name a function, but "
                           f"saw {error!r}") from None
    return found  # type: ignore[no-any-return]


def read_records(spec: QueueSpec, broker_url: str, probe: str) -> Records:
    """The queue's record of each task of the test whose probe is ``probe``, by task id."""
    found: Records = {}
    for record in records_function(spec)(broker_url, probe):
        if not isinstance(record, Mapping) or not isinstance(record.get("task"), str) or "state" not in record:
            raise RecordsError(f"expected each record from {spec.records} to be a mapping with 'task' and 'state', "
                               f"saw {record!r}")
        if record.get("probe", probe) == probe:
            found[record["task"]] = record
    return found


def reconcile(tasks: Iterable[str], timeline: Timeline, records: Records) -> list[str]:
    """Where the records disagree with what ran: a task without a record, one still in the broker, SUCCESS not
    recorded for one that ran to its end (its last start ended), FAILURE not for one that raised, and SUCCESS
    recorded for one that never ran to its end."""
    problems = []
    for task in tasks:
        record = records.get(task)
        outcome = _outcome(timeline, task)
        if record is None:
            problems.append(f"{task!r} ({outcome}) has no record: it vanished without a trace")
            continue
        state = str(record["state"])
        if record.get("queued"):
            problems.append(f"{task!r} ({outcome}) is still in the broker, recorded {state}")
        if outcome == "ran to its end" and state != "SUCCESS":
            problems.append(f"{task!r} ran to its end, recorded {state}")
        elif outcome == "raised" and state != "FAILURE":
            problems.append(f"{task!r} raised, recorded {state}")
        elif outcome not in ("ran to its end", "raised") and state == "SUCCESS":
            problems.append(f"{task!r} {outcome}, recorded SUCCESS")
    return problems


def _outcome(timeline: Timeline, task: str) -> str:
    last: Event | None = None
    for event in timeline.events:
        if event.kind in ("task.start", "task.end", "task.error") and event.get("task") == task:
            last = event
    if last is None:
        return "never started"
    return {"task.end": "ran to its end", "task.error": "raised"}.get(last.kind, "started and never ended")


async def settled(spec: QueueSpec, broker_url: str, probe: str, tasks: list[str], timeline: Timeline,
                  timeout: float) -> tuple[Records, list[str]]:
    """The records once they agree with the timeline, or the last ones read and what still disagreed after
    ``timeout`` (a queue writes its record and acknowledges a moment after the task's end: read again until then)."""
    deadline = time.monotonic() + timeout
    while True:
        records = await asyncio.to_thread(read_records, spec, broker_url, probe)
        problems = reconcile(tasks, timeline, records)
        if not problems or time.monotonic() >= deadline:
            return records, problems
        await asyncio.sleep(0.1)  # polling the queue's own store: it has no event to wait on


@dataclass
class Killed:
    """What :func:`kill_task_process` killed: the worker's own process (and its tree), or a process below it."""

    worker: str
    pid: int
    whole_worker: bool


def kill_task_process(workers: Workers, pid: int, timeout: float) -> Killed:
    """SIGKILL the process running a task (its ``pid`` from the task's start): a process below a worker alone
    (a prefork child, a work horse: the worker goes on), or, when it is the worker's own, the worker and its tree.
    A ``ProcessError`` when ``pid`` is none of the suite's workers' (the suite kills nothing else)."""
    name = workers.owner(pid)
    if name is None:
        raise ProcessError(f"pid {pid} belongs to none of the suite's workers {sorted(workers.running)}: not killed")
    if workers.running[name].pid == pid:
        workers.kill(name, timeout)
        return Killed(name, pid, whole_worker=True)
    began = started_at(pid)
    if began is not None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return Killed(name, pid, whole_worker=False)


def is_stopped(pid: int) -> bool:
    """Whether ``pid`` is stopped by a signal (``/proc``'s state T)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2:].split()[0] in ("T", "t")


def pause(server: RedisServer, seconds: float) -> asyncio.Future[None]:
    """SIGSTOP the broker now (the fault: it neither answers nor closes a connection); the future returned sends
    SIGCONT after ``seconds``, or at once when it is cancelled. Call it on the running event loop."""
    pid = server.pid
    os.kill(pid, signal.SIGSTOP)

    async def resume() -> None:
        try:
            await asyncio.sleep(seconds)  # the length of the pause is the fault injected
        finally:
            os.kill(pid, signal.SIGCONT)

    return asyncio.ensure_future(resume())


@contextlib.contextmanager
def _client(server: RedisServer, timeout: float) -> Iterator[Any]:
    """A Redis client of the running broker, closed after the block."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=timeout)
    try:
        yield client
    finally:
        client.close()


def make_transient(server: RedisServer, timeout: float) -> None:
    """Turn the running broker's append-only file off again (the rest of the session needs no disk)."""
    import redis

    with _client(server, timeout) as client, contextlib.suppress(redis.RedisError):
        client.config_set("appendonly", "no")  # not running (the test failed while it was down): next start transient


def make_persistent(server: RedisServer, timeout: float) -> None:
    """Turn on the running broker's append-only file (each write synced) and wait until it is written."""
    with _client(server, timeout) as client:
        client.config_set("appendfsync", "always")
        client.config_set("appendonly", "yes")
        deadline = time.monotonic() + timeout
        while True:
            info = client.info("persistence")
            if info.get("aof_enabled") == 1 and not info.get("aof_rewrite_in_progress") and not info.get(
                    "aof_rewrite_scheduled"):
                return
            if time.monotonic() >= deadline:
                raise ProcessError(f"{server.name}'s append-only file was not written within {timeout:g}s: {info}")
            time.sleep(0.05)  # polling Redis's INFO: the rewrite has no event to wait on


def restart(server: RedisServer, timeout: float) -> float:
    """SIGKILL the broker and start it again on its port and directory, from its append-only file; how long it was
    away."""
    began = time.monotonic()
    server.crash(timeout)
    server.start(timeout, persistent=True)
    return time.monotonic() - began


MARK = "bgtasks:suite:written-before-the-crash"  # a key the suite writes, to tell a broker that lost its data


def mark_data(server: RedisServer, timeout: float) -> None:
    """Write the suite's mark into the running broker (read back by :func:`lost_data` after a restart)."""
    with _client(server, timeout) as client:
        client.set(MARK, "1")


def lost_data(server: RedisServer, timeout: float) -> bool:
    """Whether the restarted broker came back without the mark written before its SIGKILL (its data lost)."""
    with _client(server, timeout) as client:
        return not client.exists(MARK)
