"""Nothing the suite starts outlives its run: a run killed by SIGKILL (the OOM killer, a CI step's timeout) leaves
no Redis, worker or work horse behind; the run's watchdog process kills what the run adopted."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bgtasks_conformance.plugin.reaper import _Watched

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="the process tree is read from /proc")

# A session leader that forks a "work horse" in a session of its own, as RQ's worker does, and says its pid.
WORKER = ("import subprocess, sys, time; "
          "horse = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], start_new_session=True); "
          "print(horse.pid, flush=True); time.sleep(600)")
# A run: its watchdog process (as every suite run starts one), then a component started as the queue tier starts
# Redis and the workers; it prints both pids once the horse is up, and waits to be killed.
RUN = f"""
import os, sys, threading, time
from pathlib import Path
from bgtasks_conformance.plugin.reaper import Reaper
from bgtasks_conformance.queue.processes import Child

reaper = Reaper(2)
horse = []
up = threading.Event()
child = Child("worker", [sys.executable, "-c", {WORKER!r}], Path(sys.argv[1]) / "worker.log", dict(os.environ),
              Path(sys.argv[1]), on_line=lambda line: (horse.append(int(line)), up.set()))
assert up.wait(60), "the work horse did not start"
print(child.pid, horse[0], flush=True)
time.sleep(600)
"""


def test_a_run_killed_by_sigkill_leaves_no_component_behind(tmp_path: Path) -> None:
    run = subprocess.Popen([sys.executable, "-c", RUN, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert run.stdout is not None
    pids: list[int] = []
    try:
        ready = select.select([run.stdout], [], [], 60)[0]
        line = run.stdout.readline() if ready else ""
        assert line, "the run did not start its worker within 60s"
        pids += [int(pid) for pid in line.split()]
        run.send_signal(signal.SIGKILL)
        run.wait(30)
        left = []
        for pid in pids:
            with _Watched(pid) as watched:
                if not watched.gone(30):
                    left.append(pid)
        assert not left, (f"expected the worker {pids[0]} and its work horse {pids[1]} killed with the run, saw "
                          f"{left} still running 30s after it")
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        for pid in pids:
            with _Watched(pid) as watched:
                watched.kill(signal.SIGKILL)


def test_a_component_the_run_stopped_is_released(tmp_path: Path) -> None:
    """The run tells its watchdog process that what it stopped needs nothing more; the pid may be another's later."""
    from bgtasks_conformance.plugin import reaper
    from bgtasks_conformance.queue.processes import Child

    sent: list[dict[str, object]] = []
    fake = reaper.Reaper.__new__(reaper.Reaper)
    fake._send = sent.append  # type: ignore[method-assign]
    reaper._RUNNING.append(fake)
    try:
        child = Child("quick", [sys.executable, "-c", "pass"], tmp_path / "quick.log", dict(os.environ), tmp_path)
        assert child.wait(30) == 0
    finally:
        reaper._RUNNING.remove(fake)
    assert sent == [{"kind": "adopt", "pid": child.pid}, {"kind": "release", "pid": child.pid}]
