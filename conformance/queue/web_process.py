"""A web process of its own, for the test that kills it: ``python -m bgtasks_conformance.queue.web_process``.

It builds the target with its tasks reporting to the test's probe (``--probe``), sends it one
``POST /scenario`` over raw ASGI, waits for the app call to return (the tasks are handed over), reports
``web.returned`` with its pid, and then waits to be killed (reading its standard input, which the test
never writes to and closes only by killing it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from bgtasks_conformance.harness import Harness, Timeouts
from bgtasks_conformance.observe.remote import RemoteProbe
from bgtasks_conformance.target.loader import TargetChoice, load_target


async def serve_once(target_spec: str, probe: str, broker_url: str, data_dir: Path, plan: dict[str, object]) -> None:
    target = load_target(TargetChoice(target_spec, "the test's web process"))
    harness = Harness(target, data_dir, Timeouts(), broker_url=broker_url)
    harness.env.remote_address = probe  # the tasks report to the test, not to this process
    call = harness.post("/scenario", json=plan)
    response = await call.response()
    raised = await call.finished()
    remote = RemoteProbe(probe)
    remote.record("web.returned", pid=os.getpid(), status=response.status, raised=repr(raised) if raised else None)
    remote.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bgtasks_conformance.queue.web_process")
    for name in ("--target", "--probe", "--broker", "--data-dir", "--plan"):
        parser.add_argument(name, required=True)
    args = parser.parse_args(argv)
    asyncio.run(serve_once(args.target, args.probe, args.broker, Path(args.data_dir), json.loads(args.plan)))
    sys.stdin.read()  # until killed
    return 0


if __name__ == "__main__":
    sys.exit(main())
