"""A child process whose output is drained into a file by a thread, with a bounded stop that leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path


class ProcessError(RuntimeError):
    """A component did not start, or did not stop."""


class Child:
    """``argv`` in its own session (its process group is its own), output to ``log``; ``on_line`` sees each line."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, env: dict[str, str], cwd: Path,
                 on_line: Callable[[str], None] | None = None, on_exit: Callable[[int], None] | None = None) -> None:
        self.name, self.log = name, log
        self.process = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env, cwd=cwd, start_new_session=True, text=True,
                                        errors="replace")
        self._on_line, self._on_exit = on_line, on_exit
        self._drain = threading.Thread(target=self._read, name=f"bgtasks-{name}-output", daemon=True)
        self._drain.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.log.open("a") as out:
            for line in self.process.stdout:
                out.write(line)
                out.flush()
                if self._on_line is not None:
                    self._on_line(line)
        code = self.process.wait()
        if self._on_exit is not None:
            self._on_exit(code)

    def tail(self, lines: int = 25) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join("    " + line for line in text.splitlines()[-lines:]) or "    (no output)"

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self, timeout: float) -> int:
        """SIGKILL, now (the process gets no chance to clean up): its exit code."""
        self._signal(signal.SIGKILL)
        return self.wait(timeout)

    def stop(self, timeout: float, sig: signal.Signals = signal.SIGTERM) -> int:
        """``sig``, then SIGKILL if it has not ended within ``timeout``; wait for its output to be drained."""
        if self.alive():
            self._signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
        return self.wait(timeout)

    def wait(self, timeout: float) -> int:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ProcessError(f"{self.name} (pid {self.pid}) did not end within {timeout:g}s") from None
        self._drain.join(timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code

    def leftovers(self) -> list[str]:
        """What is left of it: the process itself, or anything still in its process group."""
        found = [f"{self.name} (pid {self.pid}) still runs"] if self.alive() else []
        try:
            os.killpg(self.pid, 0)
        except (ProcessLookupError, PermissionError):
            return found
        return [*found, f"{self.name}'s process group {self.pid} still has processes"]

    def _signal(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass
