"""Build hook: the wheel records the commit it was built from (``bgtasks_conformance/_build.py``)."""

from __future__ import annotations

import contextlib
import importlib.util
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def _forget_own_bytecode() -> None:
    """Importing this hook cached its bytecode beside it (``tools/__pycache__``): remove it, so that a build
    (``pip install ./checkout``, tox's package step) writes nothing into the checkout."""
    cached = Path(importlib.util.cache_from_source(__file__))
    cached.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        cached.parent.rmdir()  # only when nothing else is cached there


_forget_own_bytecode()


def _commit(root: str) -> str:
    try:
        done = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if done.returncode != 0:
        return "unknown"
    dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                           text=True, timeout=10, check=False).stdout.strip()
    return done.stdout.strip() + ("-dirty" if dirty else "")


class BuildInfoHook(BuildHookInterface):
    """Writes the commit into a temporary file and adds it to the wheel: nothing is written into the checkout."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        self._scratch = tempfile.TemporaryDirectory(prefix="bgtasks-build-")
        if version == "editable":
            # dev-mode-dirs puts tools/editable on sys.path; this .pth imports its finder (the wheel's own
            # .pth only adds paths, which cannot rename the checkout's folders into one package)
            hook = Path(self._scratch.name) / "_bgtasks_conformance_editable.pth"
            hook.write_text("import _bgtasks_conformance_editable\n")
            build_data["force_include_editable"][str(hook)] = hook.name
            return
        info = Path(self._scratch.name) / "_build.py"
        info.write_text(f'"""Written at build time."""\n\nCOMMIT = {_commit(self.root)!r}\n')
        build_data["force_include"][str(info)] = "bgtasks_conformance/_build.py"

    def finalize(self, version: str, target_name: str, build_data: dict[str, Any]) -> None:
        self._scratch.cleanup()
