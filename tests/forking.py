"""A worker process that forks a child (a prefork child, RQ's work horse), registered with a ``Workers`` as
``worker1``: for the tests of what the suite does with a task's process."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from bgtasks_conformance import Timeline
from bgtasks_conformance.queue.processes import Child, kill_all, snapshot
from bgtasks_conformance.queue.workers import Workers
from bgtasks_conformance.target.queue import QueueSpec


def _forks(new_session: bool) -> str:
    return ("import subprocess, sys, threading\n"
            "horse = subprocess.Popen([sys.executable, '-c', 'import threading; threading.Event().wait()'],"
            f" start_new_session={new_session}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
            "print('horse', horse.pid, flush=True)\n"
            "threading.Event().wait()\n")


@contextlib.contextmanager
def forking_worker(tmp_path: Path, *, new_session: bool) -> Iterator[tuple[Workers, Child, int]]:
    """``(workers, the worker, its child's pid)``; ``new_session``: the child leaves the worker's process group.
    Both are stopped at the end, whatever failed."""
    seen: list[int] = []
    forked = threading.Event()

    def line(text: str) -> None:
        if text.startswith("horse "):
            seen.append(int(text.split()[1]))
            forked.set()

    workers = Workers(QueueSpec(("unused",)), "redis://unused", tmp_path, Timeline(), "unused")
    child = Child("worker1", [sys.executable, "-c", _forks(new_session)], tmp_path / "worker1.log",
                  dict(os.environ), tmp_path, on_line=line)
    workers.running["worker1"] = child
    try:
        assert forked.wait(20), f"expected the worker to print its child's pid; its output:\n{child.tail()}"
        yield workers, child, seen[0]
    finally:
        child.stop(timeout=10)
        kill_all(snapshot(seen))  # nothing left, whatever failed
