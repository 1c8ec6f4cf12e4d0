"""``bgtasks-conformance [COMMAND] [OPTIONS]``, ``python -m bgtasks_conformance``: the command line (:mod:`.cli`).

Without a command it runs the suite, the same as ``pytest --pyargs bgtasks_conformance.spec -p no:cacheprovider
[OPTIONS]``, e.g. ``bgtasks-conformance --bgtasks-target myapp.conformance:create_app --bgtasks-tier all``.
"""

from __future__ import annotations

import sys

from bgtasks_conformance.cli import main
from bgtasks_conformance.cli.run import SPEC_PACKAGE, command

__all__ = ["SPEC_PACKAGE", "command", "main"]

if __name__ == "__main__":
    sys.exit(main())
