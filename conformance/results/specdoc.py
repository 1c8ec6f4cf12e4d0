"""The human-readable specification, generated from the registry: ``python -m bgtasks_conformance.results.specdoc``.

Writes SPEC.md (or checks it with ``--check``); a test keeps the committed file in sync.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path

from bgtasks_conformance.results.registry import Requirement, load_registry

HEADER = """# The specification

Generated from `spec/requirements/*.toml` by `python -m bgtasks_conformance.results.specdoc`; do not edit by hand.
Each requirement has a stable ID, a level (MUST, SHOULD, MAY, as in RFC 2119) and the sentence its
test checks. Where the frameworks' behaviour differs by release, the expected behaviour per
version range follows the sentence.
"""


def render(requirements: Sequence[Requirement]) -> str:
    lines = [HEADER]
    ordered = sorted(requirements, key=lambda r: (r.area, r.id))
    for area, members in groupby(ordered, key=lambda r: r.area):
        members = list(members)
        lines.append(f"## {area} ({len(members)})\n")
        lines.append("| ID | level | requirement |")
        lines.append("| --- | --- | --- |")
        for req in members:
            text = req.sentence.replace("|", "\\|")
            if req.capability:
                text += f" *(needs capability `{req.capability}`)*"
            for version in req.versions:
                condition = ", ".join(f"{k} {v}" for k, v in version.items() if k != "expect")
                text += f"<br>• {condition}: {str(version.get('expect', '')).replace('|', '/')}"
            lines.append(f"| {req.id} | {req.level.value} | {text} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bgtasks_conformance.results.specdoc",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("path", nargs="?", type=Path, default=Path("SPEC.md"))
    parser.add_argument("--check", action="store_true", help="fail if the file is not up to date")
    args = parser.parse_args(argv)
    text = render(list(load_registry().values()))
    if args.check:
        current = args.path.read_text() if args.path.exists() else ""
        if current != text:
            print(f"{args.path} is out of date: run python -m bgtasks_conformance.results.specdoc {args.path}")
            return 1
        return 0
    args.path.write_text(text)
    print(f"wrote {args.path} ({len(load_registry())} requirements)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
