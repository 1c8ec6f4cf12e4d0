"""``bgtasks-conformance [PYTEST OPTIONS]``: the conformance suite against a target, and nothing else.

The same as ``pytest --pyargs bgtasks_conformance.spec -p no:cacheprovider [OPTIONS]``: it collects
only the installed spec (never a folder of the repository it runs in) and writes no cache there.
For example ``bgtasks-conformance --bgtasks-target myapp.conformance:create_app --bgtasks-tier all``.
"""

from __future__ import annotations

import os
import subprocess
import sys

SPEC_PACKAGE = "bgtasks_conformance.spec"


def command(argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", "--pyargs", SPEC_PACKAGE, "-p", "no:cacheprovider", *argv]


def main(argv: list[str] | None = None) -> int:
    """Run pytest in a fresh interpreter: this one has imported the suite already, which pytest must import
    itself to rewrite its asserts (else it warns, an error under a project's ``filterwarnings = error``)."""
    args = command(sys.argv[1:] if argv is None else argv)
    if os.name == "posix":
        sys.stdout.flush()
        os.execv(sys.executable, args)
    return subprocess.call(args)


if __name__ == "__main__":
    sys.exit(main())
