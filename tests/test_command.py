"""``bgtasks-conformance ARGS``: pytest on the installed spec alone, whatever folders the repository has."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bgtasks_conformance.__main__ import SPEC_PACKAGE, command


def test_the_command_is_pytest_on_the_installed_spec_without_a_cache() -> None:
    assert command(["-k", "POST"]) == [sys.executable, "-m", "pytest", "--pyargs", SPEC_PACKAGE,
                                       "-p", "no:cacheprovider", "-k", "POST"]


def test_a_users_own_spec_folder_is_left_alone_and_nothing_is_written(tmp_path: Path) -> None:
    own = tmp_path / "spec"
    own.mkdir()
    (own / "__init__.py").write_text("")
    (own / "test_theirs.py").write_text("def test_theirs():\n    raise AssertionError('collected the user spec')\n")
    before = sorted(tmp_path.rglob("*"))
    done = subprocess.run([sys.executable, "-m", "bgtasks_conformance", "--collect-only", "-q", "-k", "POST-001"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
                          env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    collected = [line for line in done.stdout.splitlines() if "::" in line]
    assert collected and all(line.startswith("test_post_response.py::") for line in collected), done.stdout
    assert "test_theirs" not in done.stdout
    assert sorted(tmp_path.rglob("*")) == before
