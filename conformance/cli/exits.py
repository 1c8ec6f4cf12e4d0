"""The exit codes of every subcommand (README "Outcomes and exit codes"): pytest's, and the suite's for bad input."""

from __future__ import annotations

import sys

PASSED = 0  # every requirement that ran is met; compare: no regression
FAILED = 1  # a MUST not met or errored; compare: a regression; selfcheck: a problem; bisect: no boundary
INTERRUPTED = 2  # pytest: the run was interrupted
INTERNAL = 3  # pytest: an internal error (a bug of pytest, a plugin or the suite)
BAD_INPUT = 4  # a mistyped command or option, an unreadable or invalid file, a target that cannot be loaded
NOTHING_RAN = 5  # no requirement ran


def bad_input(message: str) -> int:
    """Say what is wrong and how to fix it on stderr; the bad-input exit code."""
    print(f"bgtasks-conformance: error: {message}", file=sys.stderr)
    return BAD_INPUT
