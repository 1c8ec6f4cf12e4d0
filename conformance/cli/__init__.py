"""``bgtasks-conformance``: the suite's command line (``run`` and friends); see :mod:`.main`."""

from bgtasks_conformance.cli.main import main

__all__ = ["main"]
