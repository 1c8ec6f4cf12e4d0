"""The probe across processes: a task in a worker (a task queue's) reports and holds on gates.

The test side serves its :class:`~bgtasks_conformance.observe.probe.Probe` with :class:`ProbeServer`
(on 127.0.0.1, or on the address in ``BGTASKS_PROBE_HOST`` for a worker on another host); the worker
connects with :class:`RemoteProbe` (address and key from the task's message, or ``BGTASKS_PROBE``)
and makes the calls a local task makes: ``started``, ``hold``, ``ended``, ``failed``, plus
``record`` for what the queue itself did (a worker ready, a task's state). Arguments travel by value
(pickled, after the queue's own serializer), so identity checks are in-process only. Every
connection is authenticated with the server's key (HMAC challenge of ``multiprocessing.connection``).
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from multiprocessing.connection import Client, Connection, Listener
from typing import Any

from bgtasks_conformance.observe.gates import GateTimeout
from bgtasks_conformance.observe.probe import Probe

ENV_VAR = "BGTASKS_PROBE"
HOST_VAR = "BGTASKS_PROBE_HOST"  # where the server listens, and the host it gives out in its address
DEFAULT_HOST = "127.0.0.1"


class RemoteTaskError(Exception):
    """What a task in another process raised, as that process described it (type name and message)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type

    def __repr__(self) -> str:
        return f"{self.error_type}({str(self)!r}) in another process"


class ProbeServer:
    """Serves ``probe`` to other processes until closed."""

    def __init__(self, probe: Probe, host: str | None = None) -> None:
        self.probe = probe
        self.authkey = secrets.token_bytes(16)
        self.host = host or os.environ.get(HOST_VAR) or DEFAULT_HOST
        self._listener = Listener((self.host, 0), authkey=self.authkey)
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._connections: list[Connection] = []
        self._threads: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._accept, name="bgtasks-probe-server", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """``host:port:key``, for ``BGTASKS_PROBE`` or a task's message."""
        port = self._listener.address[1]
        return f"{self.host}:{port}:{self.authkey.hex()}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection = self._listener.accept()
            except (OSError, EOFError):  # closed, or a client that failed the challenge
                if self._closed.is_set():
                    return
                continue
            try:
                _no_delay(connection)
            except OSError:  # gone already: its first recv says so
                pass
            thread = threading.Thread(target=self._serve, args=(connection,), name="bgtasks-probe-client",
                                      daemon=True)
            with self._lock:
                if self._closed.is_set():
                    connection.close()
                    return
                self._connections.append(connection)
                self._threads.append(thread)
            thread.start()

    def _serve(self, connection: Connection) -> None:
        with connection:
            while True:
                try:
                    call, *args = connection.recv()
                except (EOFError, OSError):
                    return
                try:
                    answer = self._handle(call, args)
                except Exception as error:  # a bad call is the caller's problem: tell it, keep serving
                    answer = ("error", f"probe call {call!r} failed: {type(error).__name__}: {error}")
                try:
                    connection.send(answer)
                except OSError:
                    return

    def _handle(self, call: str, args: list[Any]) -> tuple[str, str]:
        if call == "started":
            task, task_args, task_kwargs, *rest = args
            details = rest[0] if rest else {}
            self.probe.started(task, tuple(task_args), task_kwargs, remote=True, **details)
        elif call == "ended":
            self.probe.ended(args[0])
        elif call == "failed":
            task, error_type, message = args
            self.probe.timeline.record("task.error", task=task, error=error_type, message=message,
                                       exception=RemoteTaskError(error_type, message), remote=True)
        elif call == "hold":
            try:
                self.probe.hold(args[0], create=args[1])
            except GateTimeout as error:
                return ("timeout", str(error))
        elif call == "record":
            kind, data = args
            self.probe.timeline.record(str(kind), **dict(data))
        else:
            return ("error", f"unknown probe call {call!r}")
        return ("ok", "")

    def close(self, timeout: float = 5.0) -> None:
        """Stop listening, end every client's connection, and wait for the server's threads."""
        with self._lock:
            self._closed.set()
            connections, threads = list(self._connections), list(self._threads)
        _shutdown(self._listener._listener._socket)  # type: ignore[attr-defined]  # wakes the blocked accept()
        self._listener.close()
        for connection in connections:
            if not connection.closed:
                try:
                    with socket.socket(fileno=os.dup(connection.fileno())) as duplicate:
                        _shutdown(duplicate)
                except OSError:
                    pass
        for thread in [self._thread, *threads]:
            thread.join(timeout)

    def __enter__(self) -> ProbeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _no_delay(connection: Connection) -> None:
    """Each call is a small request and its answer: without TCP_NODELAY, Nagle's algorithm and the peer's delayed
    acknowledgement cost about 10 ms a call (a task's start, end and state: 45 ms instead of 2, measured)."""
    with socket.socket(fileno=os.dup(connection.fileno())) as duplicate:  # the same socket: the option is shared
        duplicate.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _shutdown(sock: socket.socket) -> None:
    """Shut ``sock`` down both ways: whoever blocks on it (``accept``, ``recv``) wakes."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class RemoteProbe:
    """The worker's side: the probe calls a task makes, sent to a :class:`ProbeServer`."""

    def __init__(self, address: str | None = None) -> None:
        address = address or os.environ.get(ENV_VAR)
        if not address:
            raise RuntimeError(f"no probe address: set {ENV_VAR} to ProbeServer.address")
        host, port, key = address.rsplit(":", 2)
        self.address = address
        self._connection = Client((host, int(port)), authkey=bytes.fromhex(key))
        _no_delay(self._connection)
        self._lock = threading.Lock()

    def _call(self, *message: Any) -> None:
        with self._lock:
            self._connection.send(message)
            status, detail = self._connection.recv()
        if status == "timeout":
            raise GateTimeout(detail)
        if status != "ok":
            raise RuntimeError(detail)

    def started(self, task: str, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None,
                **details: Any) -> None:
        """``details``: plain values about where and how the task ran (host, pid, worker, redelivered)."""
        self._call("started", task, list(args), dict(kwargs or {}), details)

    def hold(self, gate: str | None, *, create: bool = False) -> None:
        if gate is not None:
            self._call("hold", gate, create)

    def ended(self, task: str) -> None:
        self._call("ended", task)

    def failed(self, task: str, error: BaseException) -> None:
        self._call("failed", task, type(error).__name__, str(error))

    def record(self, kind: str, **data: Any) -> None:
        """Any other observation, as a timeline event of ``kind`` (``worker.ready``, ``queue.state``)."""
        self._call("record", kind, data)

    def close(self) -> None:
        self._connection.close()
