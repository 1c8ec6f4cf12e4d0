"""``bgtasks-conformance [PYTEST OPTIONS]``: the conformance suite against a target, and nothing else.

The same as ``pytest --pyargs bgtasks_conformance.spec -p no:cacheprovider [OPTIONS]``: it collects
only the installed spec (never a folder of the repository it runs in) and writes no cache there.
For example ``bgtasks-conformance --bgtasks-target myapp.conformance:create_app --bgtasks-tier all``.
"""

from __future__ import annotations

import sys

import pytest

from bgtasks_conformance.plugin.entry import SPEC_PACKAGE


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    return int(pytest.main(["--pyargs", SPEC_PACKAGE, "-p", "no:cacheprovider", *args]))


if __name__ == "__main__":
    sys.exit(main())
