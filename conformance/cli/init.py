"""``bgtasks-conformance init [PATH]``: write a target factory to start from; never overwrites."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from bgtasks_conformance.cli.exits import BAD_INPUT, PASSED, bad_input
from bgtasks_conformance.cli.template import TEMPLATE

DEFAULT_PATH = Path("conformance_target.py")


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(prog="bgtasks-conformance init",
                                   description="Write a target factory (FastAPI, the contract's scenario routes, a "
                                               "custom BackgroundTasks subclass) to start from.")
    made.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH,
                      help=f"the file to write, a Python module name (default {DEFAULT_PATH})")
    return made


def init(argv: Sequence[str]) -> int:
    try:
        path: Path = parser().parse_args(argv).path
    except SystemExit as stop:  # --help (0), or a usage error argparse has explained: bad input
        return PASSED if not stop.code else BAD_INPUT
    module = path.stem
    if path.suffix != ".py" or not module.isidentifier():
        return bad_input(f"{path} is not a Python module's file name (e.g. conformance_target.py)")
    if path.exists():
        return bad_input(f"{path} exists already; init never overwrites: name another file, e.g. "
                         f"bgtasks-conformance init {path.with_stem(module + '_2')}")
    if not path.parent.is_dir():
        return bad_input(f"{path.parent} is not a folder")
    path.write_text(TEMPLATE.format(module=module))
    print(f"wrote {path}; next, from {path.parent.resolve()}:")
    print(f"  PYTHONPATH=. bgtasks-conformance --bgtasks-target {module}:create_app")
    return PASSED
