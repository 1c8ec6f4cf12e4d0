"""The target's worker processes: each started from its declared command, ready when it says so to the probe."""

from __future__ import annotations

import os
from pathlib import Path

from bgtasks_conformance.observe.remote import ENV_VAR
from bgtasks_conformance.observe.timeline import ExpectationFailed, Timeline
from bgtasks_conformance.queue.processes import Child, ProcessError, ancestry
from bgtasks_conformance.target.queue import BROKER_VAR, WORKER_VAR, QueueSpec


class Workers:
    """Worker processes of one broker; each reports ``worker.ready`` to the session probe at ``probe_address``."""

    def __init__(self, spec: QueueSpec, broker_url: str, directory: Path, timeline: Timeline, probe_address: str,
                 prefix: str = "worker") -> None:
        self.spec, self.broker_url, self.directory = spec, broker_url, directory
        self.timeline, self.probe_address, self.prefix = timeline, probe_address, prefix
        self.running: dict[str, Child] = {}
        self.ended: list[Child] = []
        self._count = 0

    def start(self, timeout: float) -> Child:
        """One more worker, once it reported ready; a :class:`ProcessError` with its output if it did not."""
        child = self.launch()
        self.ready(child, timeout)
        return child

    def launch(self) -> Child:
        self._count += 1
        name = f"{self.prefix}{self._count}"
        env = {**os.environ, BROKER_VAR: self.broker_url, ENV_VAR: self.probe_address, WORKER_VAR: name,
               "PYTHONUNBUFFERED": "1"}
        timeline = self.timeline
        child = Child(name, self.spec.command(name), self.directory / f"{name}.log", env, self.directory,
                      on_exit=lambda code: timeline.record("worker.exit", worker=name, code=code))
        self.running[name] = child
        return child

    def ready(self, child: Child, timeout: float) -> None:
        name, timeline = child.name, self.timeline
        try:
            timeline.wait_for_sync(lambda e: e.kind in ("worker.ready", "worker.exit") and e["worker"] == name,
                                   timeout=timeout, expected=f"worker {name} to report ready")
        except ExpectationFailed:
            pass
        if not self.timeline.first(lambda e: e.kind == "worker.ready" and e["worker"] == name) or not child.alive():
            self.running.pop(name)
            self.ended.append(child)
            child.stop(timeout)
            raise ProcessError(f"worker {name} ({' '.join(self.spec.command(name))}) did not report ready within "
                               f"{timeout:g}s (it reports with RemoteProbe().record('worker.ready', worker=...)); "
                               f"its output:\n{child.tail()}")

    def start_all(self, count: int, timeout: float) -> None:
        """``count`` workers, started at once (each imports Celery and the target: seconds)."""
        children = [self.launch() for _ in range(count)]
        for child in children:
            self.ready(child, timeout)

    def by_pid(self, pid: int) -> str | None:
        return next((name for name, child in self.running.items() if child.pid == pid), None)

    def owner(self, pid: int) -> str | None:
        """The running worker whose process is ``pid`` or an ancestor of it (a prefork pool's child, a work horse
        forked per job): the process tree by parent ids, read while ``pid`` still runs."""
        return next((name for parent in ancestry(pid) if (name := self.by_pid(parent)) is not None), None)

    def kill(self, name: str, timeout: float) -> int:
        """SIGKILL the worker ``name`` (in the middle of whatever it does)."""
        child = self.running.pop(name)
        self.ended.append(child)
        return child.kill(timeout)

    def stop_all(self, timeout: float) -> list[str]:
        """Stop every worker (SIGTERM, SIGKILL after ``timeout``); what is left, as problems."""
        for name in list(self.running):
            child = self.running.pop(name)
            self.ended.append(child)
            try:
                child.stop(timeout)
            except ProcessError as error:
                return [str(error)]
        return [problem for child in self.ended for problem in child.leftovers()]
