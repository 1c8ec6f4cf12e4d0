"""A child process whose output is drained into a file by a thread, with a bounded stop that leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from bgtasks_conformance.plugin.reaper import adopt, release


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
        adopt(self.pid)  # killed by the run's watchdog process should the run die without stopping it
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
        """SIGKILL, now, to it and every process below it (a forked pool, a work horse in a session of its own):
        none gets a chance to clean up; its exit code."""
        below = snapshot(descendants(self.pid))
        self._signal(signal.SIGKILL)
        kill_all(below)
        return self.wait(timeout)

    def stop(self, timeout: float, sig: signal.Signals = signal.SIGTERM) -> int:
        """``sig``, then SIGKILL if it has not ended within ``timeout``; wait for its output to be drained. What it
        forked outside its process group and left running when it ended is killed too."""
        below = snapshot(descendants(self.pid)) if self.alive() else {}
        if self.alive():
            self._signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
        code = self.wait(timeout)
        kill_all(below)
        return code

    def wait(self, timeout: float) -> int:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ProcessError(f"{self.name} (pid {self.pid}) did not end within {timeout:g}s") from None
        release(self.pid)
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


def parent_of(pid: int) -> int | None:
    """The parent process id of ``pid`` (from ``/proc``, or ``ps`` where there is none); None once it is gone."""
    stat = Path(f"/proc/{pid}/stat")
    if Path("/proc/self/stat").exists():
        try:
            text = stat.read_text()
        except OSError:
            return None
        return int(text[text.rindex(")") + 2:].split()[1])  # after "pid (comm) state": comm may hold anything
    found = subprocess.run(["ps", "-o", "ppid=", "-p", str(pid)], capture_output=True, text=True, check=False)
    return int(found.stdout.strip()) if found.returncode == 0 and found.stdout.strip() else None


def ancestry(pid: int) -> list[int]:
    """``pid`` and its ancestors up to init, nearest first; only ``[pid]`` when it is gone."""
    chain = [pid]
    while (parent := parent_of(chain[-1])) and parent not in chain:
        chain.append(parent)
    return chain


def descendants(pid: int) -> list[int]:
    """Every living process below ``pid`` (children, grandchildren: a forked pool, a work horse in its own
    session), from ``/proc``; empty where there is no ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        parent = parent_of(int(entry.name))
        if parent is not None:
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def started_at(pid: int) -> str | None:
    """When ``pid`` started (``/proc``'s field 22), to tell it from a later process given the same id."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()[19]


def snapshot(pids: list[int]) -> dict[int, str | None]:
    return {pid: started_at(pid) for pid in pids}


def kill_all(pids: dict[int, str | None]) -> None:
    """SIGKILL each process of a :func:`snapshot` that still runs (the same process, not a later one)."""
    for pid, began in pids.items():
        if started_at(pid) != began:
            continue
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
