"""The probe across processes: a task in a worker (a task queue's) reports and holds on gates.

The test side serves its :class:`~bgtasks_conformance.observe.probe.Probe` on loopback with :class:`ProbeServer`;
the worker connects with :class:`RemoteProbe` (address and key from ``BGTASKS_PROBE``) and makes
the same four calls a local task makes: ``started``, ``hold``, ``ended``, ``failed``. Arguments
travel by value (pickled), so identity checks are in-process only.
"""

from __future__ import annotations

import os
import secrets
import threading
from multiprocessing.connection import Client, Connection, Listener
from typing import Any

from bgtasks_conformance.observe.gates import GateTimeout
from bgtasks_conformance.observe.probe import Probe

ENV_VAR = "BGTASKS_PROBE"


class ProbeServer:
    """Serves ``probe`` to other processes on 127.0.0.1 until closed."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.authkey = secrets.token_bytes(16)
        self._listener = Listener(("127.0.0.1", 0), authkey=self.authkey)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="bgtasks-probe-server", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """``host:port:key`` for ``BGTASKS_PROBE``."""
        host, port = self._listener.address
        return f"{host}:{port}:{self.authkey.hex()}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection = self._listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: Connection) -> None:
        with connection:
            while True:
                try:
                    call, *args = connection.recv()
                except (EOFError, OSError):
                    return
                connection.send(self._handle(call, args))

    def _handle(self, call: str, args: list[Any]) -> tuple[str, str]:
        if call == "started":
            task, task_args, task_kwargs = args
            self.probe.started(task, tuple(task_args), task_kwargs, remote=True)
        elif call == "ended":
            self.probe.ended(args[0])
        elif call == "failed":
            task, error_type, message = args
            self.probe.timeline.record("task.error", task=task, error=error_type, message=message)
        elif call == "hold":
            try:
                self.probe.hold(args[0], create=args[1])
            except GateTimeout as error:
                return ("timeout", str(error))
        else:
            return ("error", f"unknown probe call {call!r}")
        return ("ok", "")

    def close(self) -> None:
        self._closed.set()
        self._listener.close()

    def __enter__(self) -> ProbeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RemoteProbe:
    """The worker's side: the probe calls a task makes, sent to a :class:`ProbeServer`."""

    def __init__(self, address: str | None = None) -> None:
        address = address or os.environ.get(ENV_VAR)
        if not address:
            raise RuntimeError(f"no probe address: set {ENV_VAR} to ProbeServer.address")
        host, port, key = address.rsplit(":", 2)
        self._connection = Client((host, int(port)), authkey=bytes.fromhex(key))
        self._lock = threading.Lock()

    def _call(self, *message: Any) -> None:
        with self._lock:
            self._connection.send(message)
            status, detail = self._connection.recv()
        if status == "timeout":
            raise GateTimeout(detail)
        if status != "ok":
            raise RuntimeError(detail)

    def started(self, task: str, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> None:
        self._call("started", task, list(args), dict(kwargs or {}))

    def hold(self, gate: str | None, *, create: bool = False) -> None:
        if gate is not None:
            self._call("hold", gate, create)

    def ended(self, task: str) -> None:
        self._call("ended", task)

    def failed(self, task: str, error: BaseException) -> None:
        self._call("failed", task, type(error).__name__, str(error))

    def close(self) -> None:
        self._connection.close()
