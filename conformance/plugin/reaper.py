"""The last resort: a watchdog *process*, for a run whose own monitor thread cannot act.

The watchdog thread (:mod:`.watchdog`) needs the GIL and SIGALRM. A target that holds the GIL in C
(``sum(range(10**14))`` in a task) starves it. So each run also starts this small process, tells it
each bound as it starts and ends (one JSON line on its stdin), and from time to time the reports as
they stand. When a bound passes by ``slack`` seconds more than the thread needed, this process says
so on the run's real standard error, sends the run ``SIGABRT`` (faulthandler, which needs no GIL,
prints every thread's stack there, naming the target's code), then ``SIGKILL`` if it still lives,
having first written the reports with the stopped test graded target-error. The run's exit status is then
non-zero (killed by a signal). When the run ends, its end of the pipe closes and this process ends.

The run also hands it the processes it starts in sessions of their own (the queue tier's Redis and workers:
:func:`adopt`, :func:`release` once stopped). Whatever is still adopted when the run ends (a run killed by SIGKILL,
the OOM killer, a CI step's timeout) is killed with its process group and everything below it: nothing the suite
started outlives it.

Usage (internal): ``python -m bgtasks_conformance.plugin.reaper PID TERMINAL_FD``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

GONE_WAIT = 3.0  # seconds for SIGABRT (faulthandler's dump) to end the run before SIGKILL


def main(argv: list[str]) -> int:
    parent, terminal = int(argv[1]), int(argv[2])
    deadlines: dict[str, tuple[float, dict[str, Any]]] = {}
    reports: dict[str, Any] = {}
    adopted: dict[int, int | None] = {}  # pid -> its pidfd (None where there is none)
    pending = b""
    stdin = sys.stdin.fileno()
    while True:
        due = min((deadline for deadline, _ in deadlines.values()), default=None)
        timeout = None if due is None else max(0.0, due - time.monotonic())
        ready, _, _ = select.select([stdin], [], [], timeout)
        if ready:
            chunk = os.read(stdin, 1 << 16)
            if not chunk:
                reap(adopted)
                return 0  # the run ended (or was ended): nothing left to watch
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                message = json.loads(line)
                if message["kind"] == "arm":
                    deadlines[message["id"]] = (time.monotonic() + message["seconds"], message)
                elif message["kind"] == "disarm":
                    deadlines.pop(message["id"], None)
                elif message["kind"] == "reports":
                    reports = message
                elif message["kind"] == "adopt":
                    adopted[message["pid"]] = _pidfd(message["pid"])
                elif message["kind"] == "release":
                    fd = adopted.pop(message["pid"], None)
                    if fd is not None:
                        os.close(fd)
            continue
        key = min(deadlines, key=lambda k: deadlines[k][0])
        stop(parent, terminal, deadlines[key][1], reports)
        reap(adopted)
        return 0


def _pidfd(pid: int) -> int | None:
    with contextlib.suppress(AttributeError, OSError):
        return os.pidfd_open(pid)
    return None


def reap(adopted: dict[int, int | None]) -> None:
    """The run is gone: each adopted process still alive is killed (SIGKILL) with its process group and every
    process below it (a forked pool, a work horse in a session of its own). Through its pidfd, a pid that another
    process took since is never signalled."""
    from bgtasks_conformance.queue.processes import descendants

    for pid, pidfd in adopted.items():
        try:
            if pidfd is not None:
                signal.pidfd_send_signal(pidfd, 0)  # raises once it has ended
            elif not _alive(pid):
                continue
        except OSError:
            continue
        below = descendants(pid)
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)  # it leads its own session: its group is its own
        with contextlib.suppress(OSError):
            if pidfd is not None:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        for child in below:
            with contextlib.suppress(OSError):
                os.kill(child, signal.SIGKILL)


def stop(parent: int, terminal: int, armed: dict[str, Any], reports: dict[str, Any]) -> None:
    """Say why, write the reports, stop the run (SIGABRT: faulthandler's stacks; then SIGKILL)."""
    text = (f"bgtasks watchdog process: {armed['what']} did not end within {armed['bound']:g}s ({armed['option']}), "
            f"and the run's own watchdog thread could not act for {armed['seconds'] - armed['bound']:g}s more: "
            "the target holds the GIL (C code that never returns to Python), or blocks every signal. "
            "Stopping the run (SIGABRT; the stacks of every thread follow, the target's code among them), "
            "the reports are written\n")
    _say(terminal, text)
    written = _write_reports(reports, armed, text.splitlines()[0])  # first: whoever waits for the run reads them
    _say(terminal, "".join(f"bgtasks watchdog process: report written to {path}\n" for path in written))
    with _Watched(parent) as run:
        for signum in (signal.SIGABRT, signal.SIGKILL):
            run.kill(signum)
            if run.gone(GONE_WAIT):
                break


class _Watched:
    """The run, seen from this process: its parent, not its child, so ``waitpid`` cannot wait for it. On Linux a
    pidfd, opened before any signal (a reused pid cannot be mistaken for the run): signals go through it, and it
    turns readable when the run exits, so waiting needs no polling. Elsewhere, the pid, polled."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.pidfd: int | None = None

    def __enter__(self) -> _Watched:
        with contextlib.suppress(AttributeError, OSError):  # no pidfd_open (not Linux 5.3+), or the run is gone
            self.pidfd = os.pidfd_open(self.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)

    def kill(self, signum: int) -> None:
        with contextlib.suppress(OSError):
            if self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, signum)
            else:
                os.kill(self.pid, signum)

    def gone(self, seconds: float) -> bool:
        """Waits at most ``seconds`` for the run to end; True once it has."""
        if self.pidfd is not None:
            with contextlib.suppress(OSError, ValueError):
                if select.select([self.pidfd], [], [], seconds)[0]:
                    return True  # readable: it exited
            return not _alive(self.pid)
        ended = time.monotonic() + seconds
        while time.monotonic() < ended and _alive(self.pid):
            time.sleep(0.05)  # no pidfd here: polling is the only way to wait for a process that is not a child
        return not _alive(self.pid)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] not in (b"Z", b"X")
    except FileNotFoundError:
        if os.path.isdir("/proc"):
            return False
    except (OSError, IndexError):
        return False
    try:  # no /proc (macOS): a signal 0 tells whether it exists (a zombie counts, until its parent reaps it)
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _say(fd: int, text: str) -> None:
    data = text.encode(errors="replace")
    with contextlib.suppress(OSError):
        while data:
            data = data[os.write(fd, data):]


def _write_reports(reports: dict[str, Any], armed: dict[str, Any], message: str) -> list[str]:
    report = reports.get("report")
    if not report:
        return []
    from bgtasks_conformance.results.report import render_junit, render_markdown

    report["header"]["stopped"] = message  # the run did not finish: the reports are as they stood, and why
    for record in report["requirements"]:
        if record["id"] == armed.get("requirement"):
            record["outcome"] = "target-error"
            record["messages"] = [message, *record.get("messages", [])]
            record["details"] = [message, *record.get("details", [])]
    renderers = {"--bgtasks-report": lambda r: json.dumps(r, indent=2, default=str) + "\n",
                 "--bgtasks-markdown": render_markdown, "--bgtasks-junit": render_junit}
    written = []
    for option, path in reports.get("paths", {}).items():
        with contextlib.suppress(OSError, KeyError, TypeError, ValueError):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(renderers[option](report))
            written.append(path)
    return written


_RUNNING: list[Reaper] = []  # the reapers of the runs in this process that are still open, the innermost last


def adopt(pid: int) -> None:
    """Have the innermost run's watchdog process kill ``pid`` (a session leader the suite started), its process
    group and what it forked, should the run end while it still runs; no-op outside a run."""
    if _RUNNING:
        _RUNNING[-1]._send({"kind": "adopt", "pid": pid})


def release(pid: int) -> None:
    """``pid`` was stopped by the suite: nothing left to kill."""
    for reaper in _RUNNING:
        reaper._send({"kind": "release", "pid": pid})


class Reaper:
    """The run's side: starts the process, arms and disarms bounds, hands it the reports and the processes to
    kill should the run die."""

    def __init__(self, terminal: int) -> None:
        import subprocess

        from bgtasks_conformance.plugin.leaks import RUN_MARKER

        env = {k: v for k, v in os.environ.items() if k != RUN_MARKER}  # not one of the target's processes
        self._process: Any = None
        with contextlib.suppress(OSError):
            self._process = subprocess.Popen([sys.executable, "-m", "bgtasks_conformance.plugin.reaper",
                                              str(os.getpid()), str(terminal)], stdin=subprocess.PIPE,
                                             pass_fds=(terminal,), env=env, start_new_session=True)
            _RUNNING.append(self)
        self._reported = 0.0

    def _send(self, message: dict[str, Any]) -> None:
        if self._process is None or self._process.stdin is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self._process.stdin.write(json.dumps(message, default=str).encode() + b"\n")
            self._process.stdin.flush()

    def arm(self, key: str, seconds: float, *, what: str, bound: float, option: str, requirement: str = "") -> None:
        self._send({"kind": "arm", "id": key, "seconds": seconds, "what": what, "bound": bound, "option": option,
                    "requirement": requirement})

    def disarm(self, key: str) -> None:
        self._send({"kind": "disarm", "id": key})

    def reports(self, snapshot: Callable[[], tuple[dict[str, Any], dict[str, str]] | None],
                every: float = 5.0) -> None:
        """The reports as they stand, at most every ``every`` seconds (building them costs a few milliseconds)."""
        now = time.monotonic()
        if self._process is None or now - self._reported < every:
            return
        taken = snapshot()
        if taken is not None:
            self._reported = now
            self._send({"kind": "reports", "report": taken[0], "paths": taken[1]})

    def close(self) -> None:
        """Stop watching (a run inside another process's). The outermost run keeps its reaper to the end instead:
        its pipe closes when the process ends."""
        if self in _RUNNING:
            _RUNNING.remove(self)
        if self._process is not None:
            with contextlib.suppress(OSError, ValueError):
                if self._process.stdin is not None:
                    self._process.stdin.close()
            with contextlib.suppress(Exception):
                self._process.wait(timeout=5)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
