"""'Did you mean ...?' for a mistyped subcommand or ``--bgtasks-*`` option."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from bgtasks_conformance.plugin.entry import OPTIONS

SUITE_PREFIX = "--bgtasks-"
LATER = ("--bgtasks-app",)  # audit's option, which the plugin declares (issue 22): known here already


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` did you mean 'x'?`` for the closest choice, or the empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" did you mean {close[0]!r}?" if close else ""


def unknown_suite_options(args: Sequence[str]) -> list[str]:
    """The ``--bgtasks-*`` arguments that are not options of the suite, each with its closest option.

    Arguments after ``--`` and values of other options are not looked at: a value never starts with
    ``--bgtasks-``."""
    known = [*(name for name, *_ in OPTIONS), *LATER]
    problems = []
    for arg in args:
        if arg == "--":
            break
        name = arg.split("=", 1)[0]
        if name.startswith(SUITE_PREFIX) and name not in known:
            problems.append(f"unknown option {name!r};{did_you_mean(name, known)} "
                            "(bgtasks-conformance run --help lists the suite's options)")
    return problems
