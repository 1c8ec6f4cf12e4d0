"""``bgtasks-conformance audit MODULE:ATTRIBUTE [OPTIONS]``: a run against an app of your own (``--bgtasks-app``)."""

from __future__ import annotations

from collections.abc import Sequence

AUDIT_HELP = """usage: bgtasks-conformance audit MODULE:ATTRIBUTE [OPTIONS]

Run the suite against your own app: the same as
  bgtasks-conformance run --bgtasks-app MODULE:ATTRIBUTE [OPTIONS]
MODULE:ATTRIBUTE names the app (or a function that returns it); OPTIONS as for run (run --help).
"""


def audit_command(argv: Sequence[str]) -> list[str] | str:
    """The run's arguments, or what is wrong with ``argv`` (a message)."""
    if not argv or argv[0].startswith("-"):
        return "audit needs the app first: bgtasks-conformance audit MODULE:ATTRIBUTE [OPTIONS]"
    app, *rest = argv
    if ":" not in app or not all(app.split(":", 1)):
        return f"{app!r} is not MODULE:ATTRIBUTE, e.g. myapp.main:app"
    return ["--bgtasks-app", app, *rest]
