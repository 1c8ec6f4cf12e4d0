"""Whose code broke: the suite's own (a harness error, never the target's) or the target's."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

import bgtasks_conformance
from bgtasks_conformance.results.outcomes import FAILED, HARNESS_ERROR, TARGET_ERROR, classify_failure, is_suite_code

SUITE = Path(bgtasks_conformance.__file__).resolve().parent
STDLIB = Path(sysconfig.get_paths()["stdlib"])


@pytest.mark.parametrize(("path", "ours"), [
    (SUITE / "drive" / "asgi_driver.py", True),
    (SUITE / "spec" / "test_post_response.py", True),
    (SUITE / "sample_app" / "app.py", False),  # a bundled implementation is a target
    (SUITE / "starlette_app" / "app.py", False),
    (SUITE.parent / "bgtasks_conformance_extra" / "x.py", False),  # a prefix is not a folder
    (SUITE.parent / "spectree" / "x.py", False),
    (Path("/somewhere/else/app.py"), False),
])
def test_the_suite_is_its_own_folder_not_a_prefix(path: Path, ours: bool) -> None:
    assert is_suite_code(path) is ours


class Entry:
    def __init__(self, path: Path) -> None:
        self.path = path


class ExcInfo:
    def __init__(self, error: BaseException, *paths: Path) -> None:
        self.value = error
        self.traceback = [Entry(p) for p in paths]


def test_a_standard_library_frame_is_blamed_on_whoever_called_it() -> None:
    inner = STDLIB / "json" / "decoder.py"
    ours = ExcInfo(ValueError("bad"), SUITE / "plugin" / "core.py", SUITE / "drive" / "wire.py", inner)
    theirs = ExcInfo(ValueError("bad"), SUITE / "harness.py", Path("/repo/myapp/app.py"), inner)
    assert classify_failure(ours, "call") == HARNESS_ERROR
    assert classify_failure(theirs, "call") == TARGET_ERROR


def test_a_json_error_raised_in_the_standard_library_on_the_suites_behalf(tmp_path: Path) -> None:
    try:
        json.loads("{")
    except ValueError as error:
        captured: Any = pytest.ExceptionInfo.from_exception(error)
    here = Path(__file__)  # this test file calls json: neither the suite's nor a target's, so the target is blamed
    assert Path(captured.traceback[-1].path).is_relative_to(STDLIB)
    assert classify_failure(captured, "call") == (HARNESS_ERROR if is_suite_code(here) else TARGET_ERROR)


def test_an_assertion_is_a_failure_not_an_error() -> None:
    assert classify_failure(ExcInfo(AssertionError("expected x; saw y"), SUITE / "spec" / "t.py"), "call") == FAILED


# -- leaks are blamed by evidence: another process's files are never the target's ---------------------
WRITER = '''
import os, select, sys
n = 0
while not select.select([sys.stdin], [], [], 0.01)[0]:  # until the test closes our stdin
    for folder in sys.argv[1:]:
        with open(os.path.join(folder, f"other-{n}.txt"), "w") as out:
            out.write("another process's file")
        os.makedirs(os.path.join(folder, f".other-ssh-{n % 7}"), exist_ok=True)  # a folder too (an ssh client's ~/.ssh)
        with open(os.path.join(folder, f".other-ssh-{n % 7}", "known_hosts"), "a") as out:
            out.write("host key\\n")
    n += 1
print(n)
'''
SUITE_RUN = ("-p", "no:cacheprovider", "--pyargs", "bgtasks_conformance.spec", "-k", "ARGS")


def test_files_another_process_writes_meanwhile_are_not_the_targets(
        scratch: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundled reference runs while another process writes into the working and the home directories."""
    home = scratch.path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(scratch.path), str(home)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        result = scratch.runpytest_subprocess(*SUITE_RUN, "--bgtasks-report", "report.json", timeout=300)
    finally:
        written, _ = writer.communicate("stop\n", timeout=30)
    assert int(written) > 0, "the other process wrote nothing while the suite ran"
    text = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.OK, text[-3000:]
    assert "outside env.data_dir" not in text and "other-" not in text and "known_hosts" not in text, text[-3000:]
    assert (home / ".other-ssh-0" / "known_hosts").is_file()


def test_two_runs_in_one_folder_do_not_see_each_other(scratch: pytest.Pytester) -> None:
    """Both write report.json in the same folder at the same time; neither blames the bundled reference for it."""
    runs = [subprocess.Popen([sys.executable, "-m", "pytest", *SUITE_RUN, "--bgtasks-report", "report.json"],
                             cwd=scratch.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == pytest.ExitCode.OK, output[-3000:]
        assert "outside env.data_dir" not in output, output[-3000:]
    assert json.loads((scratch.path / "report.json").read_text())["requirements"]
