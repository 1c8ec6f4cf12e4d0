"""``pip install -e .``: a copy of the checkout installed editable into a fresh virtual environment.

Its imports resolve into the copy's folders (``conformance/`` is ``bgtasks_conformance``, ``spec/`` its
``spec``, ...), and a module written into the copy afterwards imports at once, without reinstalling. The
real checkout is never written: the copy is made under the test's tmp dir.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.test_guest import ROOT, UV, run

pytestmark = pytest.mark.skipif(not UV.exists(), reason="needs uv (the test extra)")

IGNORED = shutil.ignore_patterns(".git", ".tox", ".venv", "__pycache__", ".ruff_cache", "*.egg-info", "dist", "build")
WHERE = """
import importlib, json, sys
print(json.dumps({name: importlib.import_module(name).__file__ for name in sys.argv[1:]}))
"""


@pytest.fixture(scope="module")
def editable(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the copy of the checkout, the Python of a venv with the copy installed editable)."""
    where = tmp_path_factory.mktemp("editable")
    copy = where / "checkout"
    shutil.copytree(ROOT, copy, ignore=IGNORED)
    venv = where / "venv"
    done = run([str(UV), "venv", "-q", "--python", sys.executable, str(venv)], where)
    assert done.returncode == 0, done.stderr
    python = venv / "bin" / "python"
    done = run([str(UV), "pip", "install", "-q", "--python", str(python), "-e", str(copy)], where, bytecode=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return copy, python


def imported_from(python: Path, *modules: str) -> dict[str, str]:
    done = run([str(python), "-c", WHERE, *modules], python.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_imports_resolve_into_the_checkout(editable: tuple[Path, Path]) -> None:
    copy, python = editable
    found = imported_from(python, "bgtasks_conformance", "bgtasks_conformance.spec", "bgtasks_conformance.sample_app",
                          "bgtasks_conformance.plugin.core")
    assert found == {
        "bgtasks_conformance": str(copy / "conformance" / "__init__.py"),
        "bgtasks_conformance.spec": str(copy / "spec" / "__init__.py"),
        "bgtasks_conformance.sample_app": str(copy / "sample_app" / "__init__.py"),
        "bgtasks_conformance.plugin.core": str(copy / "conformance" / "plugin" / "core.py"),
    }, found


def test_a_change_in_the_checkout_is_live_without_reinstalling(editable: tuple[Path, Path]) -> None:
    copy, python = editable
    (copy / "conformance" / "editable_probe.py").write_text("VALUE = 'written after the install'\n")
    (copy / "spec" / "editable_probe.py").write_text("VALUE = 'the spec, too'\n")
    found = imported_from(python, "bgtasks_conformance.editable_probe", "bgtasks_conformance.spec.editable_probe")
    assert found == {"bgtasks_conformance.editable_probe": str(copy / "conformance" / "editable_probe.py"),
                     "bgtasks_conformance.spec.editable_probe": str(copy / "spec" / "editable_probe.py")}, found
    done = run([str(python), "-c", "from bgtasks_conformance.editable_probe import VALUE; print(VALUE)"], copy)
    assert done.stdout.strip() == "written after the install", done.stdout + done.stderr


def test_the_command_runs_the_checkouts_spec(editable: tuple[Path, Path]) -> None:
    """The installed command collects the copy's spec: a test written there after the install runs."""
    copy, python = editable
    (copy / "spec" / "test_editable_probe.py").write_text(
        "def test_written_after_the_install():\n    assert True\n")
    done = run([str(python.parent / "bgtasks-conformance"), "-q", "-k", "written_after_the_install"], python.parent,
               timeout=300)
    assert "1 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
