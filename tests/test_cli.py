"""The command line: commands, concise help, the suite's version, suggestions and the exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from bgtasks_conformance.cli import main
from bgtasks_conformance.cli.about import COMMANDS
from bgtasks_conformance.cli.audit import audit_command
from bgtasks_conformance.cli.exits import BAD_INPUT, FAILED, PASSED
from bgtasks_conformance.plugin.entry import OPTIONS
from bgtasks_conformance.target.contract import CONTRACT_VERSION


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The installed command as a user runs it: a fresh interpreter, its own output."""
    return subprocess.run([sys.executable, "-m", "bgtasks_conformance", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, check=False,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})})


def test_help_lists_the_commands_and_the_main_suite_options_not_pytests() -> None:
    done = cli("--help")
    assert done.returncode == PASSED, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) < 40, done.stdout
    for name in COMMANDS:
        assert any(line.startswith(f"  {name} ") for line in lines), name
    for name, *_ in OPTIONS:  # each named, the first ones with what they do
        assert f" {name}" in done.stdout, name
    assert "--basetemp" not in done.stdout  # pytest's help is not there
    assert "4 bad input" in done.stdout


def test_run_help_shows_every_suite_option_and_how_to_get_pytests_help() -> None:
    done = cli("run", "--help")
    assert done.returncode == PASSED, done.stderr
    for name, *_ in OPTIONS:
        assert f"  {name}" in done.stdout, name
    assert "run --pytest-help" in done.stdout
    assert "--basetemp" not in done.stdout
    assert cli("--bgtasks-tier", "wire", "--help").stdout == done.stdout  # no command: run's help


def test_pytest_help_is_one_option_away() -> None:
    done = cli("run", "--pytest-help")
    assert done.returncode == PASSED, done.stderr
    assert "--basetemp" in done.stdout and "--bgtasks-target" in done.stdout


def test_version_is_the_suites_and_the_contracts() -> None:
    done = cli("--version")
    assert done.returncode == PASSED, done.stderr
    assert done.stdout == (f"bgtasks-conformance {metadata.version('bgtasks-conformance')} "
                           f"(contract version {CONTRACT_VERSION})\n")


@pytest.mark.parametrize(("args", "message"), [
    (["rnu"], "unknown command 'rnu'; did you mean 'run'?"),
    (["comprae", "a.json", "b.json"], "unknown command 'comprae'; did you mean 'compare'?"),
    (["--bgtasks-tierr", "all"], "unknown option '--bgtasks-tierr'; did you mean '--bgtasks-tier'?"),
    (["run", "--bgtasks-target=x:y", "--bgtasks-expectation=e.toml"],
     "unknown option '--bgtasks-expectation'; did you mean '--bgtasks-expectations'?"),
    (["audit"], "audit needs the app first"),
    (["audit", "myapp"], "'myapp' is not MODULE:ATTRIBUTE"),
    (["init", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_input_is_named_with_the_fix_and_exits_4(args: list[str], message: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == BAD_INPUT
    assert message in capsys.readouterr().err


def test_a_pytest_path_first_still_goes_to_pytest(tmp_path: Path) -> None:
    """A first argument that is no command but an existing path is pytest's, as before there were commands."""
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "test_mine.py").write_text("def test_mine():\n    pass\n")
    done = cli("elsewhere", "--collect-only", "-q", "-k", "mine", cwd=tmp_path)
    assert done.returncode == PASSED, done.stdout + done.stderr
    assert "elsewhere/test_mine.py::test_mine" in done.stdout


def test_run_and_no_command_collect_the_same_spec(tmp_path: Path) -> None:
    plain = cli("--collect-only", "-q", "-k", "POST-001", cwd=tmp_path)
    run = cli("run", "--collect-only", "-q", "-k", "POST-001", cwd=tmp_path)
    assert plain.returncode == run.returncode == PASSED, plain.stdout + run.stdout
    ids = [line for line in run.stdout.splitlines() if "::" in line]
    assert ids and ids == [line for line in plain.stdout.splitlines() if "::" in line]


def test_audit_is_a_run_with_the_app_option() -> None:
    assert audit_command(["myapp.main:app", "-k", "POST", "--bgtasks-tier", "all"]) == [
        "--bgtasks-app", "myapp.main:app", "-k", "POST", "--bgtasks-tier", "all"]


def report(outcome: str) -> dict[str, Any]:
    return {"schema": 2, "header": {"versions": {}}, "requirements": [
        {"id": "POST-001", "level": "MUST", "sentence": "s", "outcome": outcome, "observed": {}, "details": []}]}


def write(path: Path, content: Any) -> str:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_compare_exits_1_for_a_regression_and_4_for_a_bad_file(tmp_path: Path) -> None:
    good, bad = write(tmp_path / "good.json", report("passed")), write(tmp_path / "bad.json", report("failed"))
    assert cli("compare", good, good).returncode == PASSED
    regression = cli("compare", good, bad)
    assert regression.returncode == FAILED, regression.stdout + regression.stderr
    assert "REGRESSION POST-001 [MUST]: passed -> failed" in regression.stdout
    for name, content in (("broken.json", "{not json"), ("other.json", {"tests": []})):
        invalid = cli("compare", good, write(tmp_path / name, content))
        assert invalid.returncode == BAD_INPUT, invalid.stdout + invalid.stderr
        assert invalid.stderr.startswith("bgtasks-conformance compare: error: ") and name in invalid.stderr
    missing = cli("compare", good, str(tmp_path / "absent.json"))
    assert missing.returncode == BAD_INPUT and "cannot read report" in missing.stderr
    assert cli("compare", good).returncode == BAD_INPUT  # a usage error: one file


@pytest.mark.parametrize("name", ["compare", "matrix", "bisect", "selfcheck"])
def test_the_tools_are_their_modules_own_parsers(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([name, "--help"]) == PASSED
    usage = capsys.readouterr().out
    assert usage.startswith(f"usage: python -m bgtasks_conformance.{name}"), usage
    assert main([name, "--no-such-option"]) == BAD_INPUT
    assert f"bgtasks_conformance.{name}: error: " in capsys.readouterr().err


def test_init_writes_a_factory_refuses_to_overwrite_and_says_what_next(tmp_path: Path) -> None:
    done = cli("init", cwd=tmp_path)
    assert done.returncode == PASSED, done.stderr
    written = tmp_path / "conformance_target.py"
    assert "class TrackedBackgroundTasks(BackgroundTasks):" in written.read_text()
    assert "bgtasks-conformance --bgtasks-target conformance_target:create_app" in done.stdout
    written.write_text("# mine\n")
    again = cli("init", cwd=tmp_path)
    assert again.returncode == BAD_INPUT and "exists already; init never overwrites" in again.stderr
    assert written.read_text() == "# mine\n"
    assert cli("init", "not-a-module.py", cwd=tmp_path).returncode == BAD_INPUT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conformance_target.py"]


def test_the_factory_init_writes_passes_the_suite(tmp_path: Path) -> None:
    assert cli("init", "my_target.py", cwd=tmp_path).returncode == PASSED
    report_path = tmp_path / "out" / "r.json"
    report_path.parent.mkdir()
    done = cli("--bgtasks-target", "my_target:create_app", "--bgtasks-tier", "asgi", "-n", "2", "-q",
               "-p", "no:randomly", f"--bgtasks-report={report_path}", cwd=tmp_path,
               env={"PYTHONPATH": str(tmp_path)}, timeout=600)
    assert done.returncode == PASSED, done.stdout[-4000:] + done.stderr[-2000:]
    records = json.loads(report_path.read_text())["requirements"]
    by_outcome: dict[str, list[str]] = {}
    for record in records:
        by_outcome.setdefault(record["outcome"], []).append(record["id"])
    assert len(by_outcome["passed"]) >= 40, by_outcome
    assert set(by_outcome) <= {"passed", "skipped", "informational", "untested"}, by_outcome
    # what it skips is what it declares lacking (the seed endpoints, the dependencies) or the opt-in queue tier
    reasons = {record["details"][0].removeprefix("Skipped: ").split(": ")[0] for record in records
               if record["outcome"] == "skipped"}
    assert reasons == {"target lacks capability 'dependencies'", "target lacks capability 'seed-endpoints'",
                       "target lacks capability 'frontend-routes'", "the queue tier is opt-in"}, reasons
