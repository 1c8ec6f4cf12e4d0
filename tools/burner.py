"""A CPU burner: every core busy, at 4x oversubscription by default, always stopped.

To check that verdicts do not depend on the machine's speed (README "Bounds and leaks"): run a tier
while this keeps the machine busy, e.g.::

    python tools/burner.py --factor 4 --seconds 600 -- python -m pytest --pyargs bgtasks_conformance.spec
    python tools/burner.py --runs 20 -- python -m pytest ...   # the same command 20 times: how many passed
    python tools/burner.py --seconds 30            # only burn, for 30 s
    python tools/burner.py --runs 20 --seconds 3600 --logs /tmp/load -- ...   # each run's output in run-N.log there

As a context manager: ``with Burner(factor=4): ...``. The burning processes are children of this one, in a
process group of their own; they end when the block (or the command) ends, when this process is
interrupted, and on their own after ``--seconds`` at most (a bound if this process is killed outright).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

BURN = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    sum(range(10000))\n"


class Burner:
    """``factor`` busy processes per core, for at most ``seconds``; stopped on exit from the block."""

    def __init__(self, factor: int = 4, seconds: float = 600.0) -> None:
        self.count = max(1, factor * (os.cpu_count() or 1))
        self.seconds = seconds
        self._processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Burner:
        code = BURN.format(seconds=self.seconds)
        try:
            for _ in range(self.count):
                self._processes.append(subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL))
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        for process in self._processes:
            with contextlib.suppress(OSError):
                process.kill()
        for process in self._processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        self._processes.clear()

    @property
    def running(self) -> int:
        return sum(process.poll() is None for process in self._processes)


@contextlib.contextmanager
def burning(factor: int = 4, seconds: float = 600.0) -> Iterator[Burner]:
    with Burner(factor, seconds) as burner:
        yield burner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=int, default=4, help="busy processes per core (default 4)")
    parser.add_argument("--seconds", type=float, default=600.0, help="burn at most this long (default 600)")
    parser.add_argument("--runs", type=int, default=1, help="run the command this many times (default 1)")
    parser.add_argument("--logs", type=Path, default=None,
                        help="write each run's output (stdout and stderr) to DIR/run-N.log instead of the terminal")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- a command to run while burning")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the burners stop on the way out
    try:
        return _burn(args.factor, args.seconds, command, max(1, args.runs), args.logs)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _burn(factor: int, seconds: float, command: list[str], runs: int = 1, logs: Path | None = None) -> int:
    with Burner(factor, seconds) as burner:
        print(f"burner: {burner.count} busy processes on {os.cpu_count()} cores, at most {seconds:g}s",
              file=sys.stderr)
        if not command:
            with contextlib.suppress(KeyboardInterrupt):
                time.sleep(seconds)  # burning is the point: nothing to wait for but the time
            return 0
        statuses = []
        if logs is not None:
            logs.mkdir(parents=True, exist_ok=True)
        for run in range(1, runs + 1):
            started = time.monotonic()
            log = None if logs is None else logs / f"run-{run}.log"
            with open(log, "wb") if log is not None else contextlib.nullcontext() as out:
                statuses.append(subprocess.call(command, stdout=out, stderr=subprocess.STDOUT if out else None))
            print(f"burner: run {run}/{runs} took {time.monotonic() - started:.1f}s, exit {statuses[-1]}"
                  + (f" ({burner.running} busy processes left; output: {log})" if log is not None else ""),
                  file=sys.stderr, flush=True)
        failed = [s for s in statuses if s != 0]
        print(f"burner: {runs - len(failed)} of {runs} runs passed", file=sys.stderr)
        return failed[0] if failed else 0


if __name__ == "__main__":
    sys.exit(main())
