"""The suite's version, the contract's, and the concise help texts."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from importlib import metadata

from bgtasks_conformance.plugin.entry import OPTIONS
from bgtasks_conformance.target.contract import CONTRACT_VERSION

Option = tuple[str, str | bool | None, str | None, str]
DISTRIBUTION = "bgtasks-conformance"
COMMANDS = {
    "run": "run the suite against a target (the default: `bgtasks-conformance [OPTIONS]` is `run [OPTIONS]`)",
    "audit": "run the suite against your own app: audit MODULE:ATTRIBUTE [OPTIONS] (--bgtasks-app)",
    "init": "write a target factory for your app to start from: init [PATH] (default conformance_target.py)",
    "compare": "compare two JSON reports: compare OLD.json NEW.json (exit 1 on a regression)",
    "matrix": "run the suite across framework versions and render the matrix",
    "bisect": "find the release that changed a requirement's outcome",
    "selfcheck": "check that the suite catches each broken implementation of its gallery",
}
EXIT_CODES = ("exit codes: 0 passed; 1 a requirement failed (compare: a regression); 2 interrupted; "
              "3 internal error; 4 bad input (a mistyped command or option, an unreadable file, a target that "
              "cannot be loaded or is not a contract target); 5 no requirement ran")


def version() -> str:
    try:
        suite = metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        suite = "unknown (not installed)"
    return f"bgtasks-conformance {suite} (contract version {CONTRACT_VERSION})"


def options_lines(options: Sequence[Option] = OPTIONS, width: int = 30) -> list[str]:
    """One line per ``--bgtasks-*`` option: its name and value, and its help's first clause."""
    lines = []
    for name, _default, metavar, help_text in options:
        usage = name if metavar is None else f"{name} {metavar}"
        short = help_text.split(" (")[0].split("; ")[0]
        lines.append(f"  {usage:<{width}} {short}" if len(usage) < width else f"  {usage}\n  {'':<{width}} {short}")
    return lines


def main_help() -> str:
    commands = [f"  {name:<10} {summary}" for name, summary in COMMANDS.items()]
    return "\n".join([
        "usage: bgtasks-conformance [COMMAND] [OPTIONS]",
        "",
        "The background-task conformance suite. Without a command: run (pytest options and the suite's).",
        "",
        "commands (COMMAND --help for each):",
        *commands,
        "",
        "the suite's options (run --help for all of them):",
        *options_lines(OPTIONS[:5]),
        *textwrap.wrap("  and " + ", ".join(name for name, *_ in OPTIONS[5:]), 100, subsequent_indent="    ",
                      break_on_hyphens=False),
        "",
        "  --version                      the suite's and the contract's versions",
        "",
        *textwrap.wrap(EXIT_CODES, 100),
    ]) + "\n"


def run_help() -> str:
    return "\n".join([
        "usage: bgtasks-conformance [run] [--bgtasks-OPTION ...] [PYTEST OPTIONS]",
        "",
        "pytest on the installed spec (pytest --pyargs bgtasks_conformance.spec -p no:cacheprovider), e.g.",
        "  bgtasks-conformance run --bgtasks-target myapp.conformance:create_app --bgtasks-tier all -n 2",
        "(-n needs pytest-xdist). pytest's own options (-k, -x, -q, ...) work as in pytest;",
        "bgtasks-conformance run --pytest-help prints pytest's full help.",
        "",
        "the suite's options:",
        *options_lines(),
        "",
        *textwrap.wrap(EXIT_CODES, 100),
    ]) + "\n"
