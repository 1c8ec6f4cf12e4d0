"""The queue tier's session: a Redis, the target's workers, and a probe server they report their lifecycle to.

Started before the preflight (the preflight's task goes through the queue too) and stopped at the end of
the session in any case; :meth:`QueueStack.stop` lists what is left (a process, a port, a file) so that
the run fails when something leaked.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from bgtasks_conformance.observe.probe import Probe
from bgtasks_conformance.observe.remote import ProbeServer
from bgtasks_conformance.observe.timeline import Timeline
from bgtasks_conformance.queue.redis import RedisServer
from bgtasks_conformance.queue.workers import Workers
from bgtasks_conformance.target.queue import BROKER_VAR, QueueSpec

START_TIMEOUT = 30.0  # a worker imports Celery and the target: seconds on a busy machine


class QueueStack:
    def __init__(self, spec: QueueSpec, redis_binary: str, parent: str | None = None,
                 timeout: float = START_TIMEOUT) -> None:
        self.spec, self.redis_binary, self.timeout = spec, redis_binary, timeout
        self.directory = Path(tempfile.mkdtemp(prefix="bgtasks-queue-", dir=parent))
        self.timeline = Timeline()
        self.server = ProbeServer(Probe(self.timeline))  # on loopback: the suite's own workers
        self.redis = RedisServer(redis_binary, self.directory / "redis")
        self.workers = Workers(spec, self.redis.url, self.directory, self.timeline, self.server.address)
        self.extra: list[RedisServer | Workers] = []  # what tests started on top (another broker, its workers)
        self.seconds: dict[str, float] = {}
        self._previous = os.environ.get(BROKER_VAR)

    @property
    def broker_url(self) -> str:
        return self.redis.url

    def start(self) -> QueueStack:
        began = time.monotonic()
        self.redis.start(self.timeout)
        self.seconds["redis_start"] = time.monotonic() - began
        began = time.monotonic()
        self.workers.start_all(self.spec.workers, self.timeout)
        self.seconds["workers_start"] = time.monotonic() - began
        os.environ[BROKER_VAR] = self.broker_url  # the app (TargetEnv.broker_url) publishes here
        return self

    def another_redis(self, port: int | None = None) -> RedisServer:
        """A second Redis (not started), stopped with the stack."""
        server = RedisServer(self.redis_binary, self.directory / f"redis{len(self.extra) + 2}", port,
                             name=f"redis{len(self.extra) + 2}")
        self.extra.append(server)
        return server

    def workers_for(self, broker_url: str, prefix: str) -> Workers:
        """Workers of another broker, stopped with the stack."""
        workers = Workers(self.spec, broker_url, self.directory, self.timeline, self.server.address, prefix)
        self.extra.append(workers)
        return workers

    def stop(self, timeout: float = 10.0) -> list[str]:
        """Stop everything, in any case; the problems found: what is still running, listening or on disk."""
        if self._previous is None:
            os.environ.pop(BROKER_VAR, None)
        else:
            os.environ[BROKER_VAR] = self._previous
        problems = self.workers.stop_all(timeout)
        for part in reversed(self.extra):  # workers before their broker
            problems += part.stop_all(timeout) if isinstance(part, Workers) else part.stop(timeout)
        problems += self.redis.stop(timeout)
        self.server.close()
        shutil.rmtree(self.directory, ignore_errors=True)
        if self.directory.exists():
            problems.append(f"{self.directory} is left on disk")
        return problems
