"""``compare``, ``matrix``, ``bisect``, ``selfcheck``: the modules' own ``main`` (and parser), with the CLI's exit
codes: their usage errors (argparse's exit 2) and their messages for unreadable files are bad input (4)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from bgtasks_conformance.cli.exits import BAD_INPUT

MODULES = {"compare": "bgtasks_conformance.compare", "matrix": "bgtasks_conformance.matrix",
           "bisect": "bgtasks_conformance.bisect", "selfcheck": "bgtasks_conformance.selfcheck"}
ARGPARSE_USAGE_ERROR = 2


def dispatch(name: str, argv: Sequence[str]) -> int:
    """Call the module's ``main`` with ``argv`` under the subcommand's name in its usage lines."""
    module = importlib.import_module(MODULES[name])
    program, sys.argv = sys.argv, [f"bgtasks-conformance {name}", *argv]
    try:
        return int(module.main(list(argv)) or 0)
    except SystemExit as stop:
        if stop.code is None or stop.code == 0:
            return 0
        if isinstance(stop.code, str):  # e.g. compare's "cannot read report ...": bad input
            print(f"bgtasks-conformance {name}: error: {stop.code}", file=sys.stderr)
            return BAD_INPUT
        return BAD_INPUT if stop.code == ARGPARSE_USAGE_ERROR else int(stop.code)
    finally:
        sys.argv = program
