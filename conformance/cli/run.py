"""``bgtasks-conformance run [PYTEST OPTIONS]``: pytest on the installed spec, and nothing else.

The same as ``pytest --pyargs bgtasks_conformance.spec -p no:cacheprovider [OPTIONS]``: it collects only the
installed spec (never a folder of the repository it runs in) and writes no cache there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

from bgtasks_conformance.cli.exits import bad_input
from bgtasks_conformance.cli.suggest import unknown_suite_options

SPEC_PACKAGE = "bgtasks_conformance.spec"


def command(argv: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", "--pyargs", SPEC_PACKAGE, "-p", "no:cacheprovider", *argv]


def run(argv: Sequence[str]) -> int:
    """Run pytest in a fresh interpreter: this one has imported the suite already, which pytest must import
    itself to rewrite its asserts (else it warns, an error under a project's ``filterwarnings = error``)."""
    problems = unknown_suite_options(argv)
    if problems:
        return bad_input("\n  ".join(problems))
    args = command(argv)
    if os.name == "posix":
        sys.stdout.flush()
        os.execv(sys.executable, args)
    return subprocess.call(args)
