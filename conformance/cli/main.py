"""``bgtasks-conformance [COMMAND] [OPTIONS]``: which command, then its module.

Without a command (the first argument an option, or nothing) it is ``run``, as before there were commands.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

from bgtasks_conformance.cli.about import COMMANDS, main_help, run_help, version
from bgtasks_conformance.cli.audit import AUDIT_HELP, audit_command
from bgtasks_conformance.cli.exits import PASSED, bad_input
from bgtasks_conformance.cli.init import init
from bgtasks_conformance.cli.run import command, run
from bgtasks_conformance.cli.suggest import did_you_mean
from bgtasks_conformance.cli.tools import MODULES, dispatch

HELP = ("-h", "--help")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    first = args[0] if args else ""
    if first in HELP:
        return _say(main_help())
    if first in ("--version", "-V"):
        return _say(version() + "\n")
    if first.startswith("-") or not first:
        return _run(args)
    name, rest = first, args[1:]
    if name == "run":
        return _run(rest)
    if name == "audit":
        if rest[:1] and rest[0] in HELP:
            return _say(AUDIT_HELP)
        translated = audit_command(rest)
        return bad_input(translated) if isinstance(translated, str) else _run(translated)
    if name == "init":
        return init(rest)
    if name in MODULES:
        return dispatch(name, rest)
    hint = did_you_mean(name, COMMANDS)
    if hint or not os.path.exists(name.split("::")[0]):
        return bad_input(f"unknown command {name!r};{hint or ''} commands: {', '.join(COMMANDS)} "
                         "(bgtasks-conformance --help)")
    return _run(args)  # a path or node id for pytest, as before there were commands


def _run(args: list[str]) -> int:
    before_dashes = args[:args.index("--")] if "--" in args else args
    if any(arg in HELP for arg in before_dashes):
        return _say(run_help())
    if args[:1] == ["--pytest-help"]:
        return subprocess.call(command(["--help"]))
    return run(args)


def _say(text: str) -> int:
    sys.stdout.write(text)
    return PASSED
