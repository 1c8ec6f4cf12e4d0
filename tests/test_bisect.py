"""The release bisect: the search over releases, the environments' pins, and (when cheap) one real run."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from bgtasks_conformance import bisect
from bgtasks_conformance.bisect import Search
from bgtasks_conformance.release_envs import Setup, era_pins, releases

VERSIONS = [f"0.{n}.0" for n in range(40)]


def report(outcome: str, observed: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"header": {"versions": {}}, "requirements": [
        {"id": "POST-006", "level": "MUST", "outcome": outcome, "observed": observed or {}}]}


def states(changes: dict[int, str], first: str = "passed") -> Any:
    """A report per release: ``first`` until the first index in ``changes``, then each new state from its index."""
    def outcome_at(version: str) -> str:
        index = VERSIONS.index(version)
        state = first
        for at, new in sorted(changes.items()):
            if index >= at:
                state = new
        return state

    calls: list[str] = []

    def report_of(version: str) -> dict[str, Any]:
        calls.append(version)
        return report(outcome_at(version))

    return report_of, calls


def test_one_change_is_found_in_about_log2_of_the_range() -> None:
    report_of, calls = states({23: "failed"})
    search = Search(VERSIONS, report_of)
    assert search.changes(first_only=True) == [("0.22.0", "0.23.0")]
    assert len(calls) == len(set(calls)) <= 2 + math.ceil(math.log2(len(VERSIONS)))


def test_identical_ends_are_no_change() -> None:
    report_of, calls = states({})
    assert Search(VERSIONS, report_of).changes() == []
    assert calls == [VERSIONS[0], VERSIONS[-1]]


def test_an_observed_change_with_the_same_outcome_is_a_boundary() -> None:
    def report_of(version: str) -> dict[str, Any]:
        return report("passed", {"era": "after-tasks" if VERSIONS.index(version) < 7 else "before-response"})

    assert Search(VERSIONS, report_of).changes() == [("0.6.0", "0.7.0")]


def test_all_finds_each_boundary_in_turn() -> None:
    report_of, _ = states({5: "expected-failure", 30: "failed"})
    assert Search(VERSIONS, report_of).changes() == [("0.4.0", "0.5.0"), ("0.29.0", "0.30.0")]


def test_a_change_reverted_inside_the_range_needs_every() -> None:
    report_of, calls = states({10: "failed", 14: "passed"})
    assert Search(VERSIONS, report_of).changes() == []  # the two ends agree
    report_of, calls = states({10: "failed", 14: "passed"})
    assert Search(VERSIONS, report_of).changes(every=4) == [("0.9.0", "0.10.0"), ("0.13.0", "0.14.0")]
    assert len(set(calls)) < len(VERSIONS) / 2


def test_a_release_that_does_not_install_is_left_out() -> None:
    def report_of(version: str) -> dict[str, Any] | None:
        index = VERSIONS.index(version)
        if index in (19, 20, 21):
            return None
        return report("failed" if index >= 21 else "passed")

    search = Search(VERSIONS, report_of)
    assert search.changes() == [("0.18.0", "0.22.0")]
    assert set(search.skipped) <= {"0.19.0", "0.20.0", "0.21.0"}


def test_releases_are_final_and_in_the_range_oldest_first() -> None:
    listed = ["0.40.0", "0.38.5", "0.38.5rc1", "0.20.0", "0.19.1", "0.21.0.dev1", "0.32.0.post1", "junk"]
    assert releases("starlette", "0.20.0", "0.40.0", listed) == ["0.20.0", "0.32.0.post1", "0.38.5", "0.40.0"]


def test_old_releases_get_their_era_pins() -> None:
    assert era_pins("starlette", "0.20.4") == ["anyio<4"]
    assert era_pins("starlette", "0.38.5") == []
    assert era_pins("fastapi", "0.105.0") == ["anyio<4", "pydantic<2.6"]
    assert era_pins("fastapi", "0.120.4") == []


def test_a_starlette_bisect_drops_fastapi_and_runs_the_starlette_app(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    args = bisect._parser().parse_args(["--package", "starlette", "--from", "0.20.0", "--to", "0.40.0",
                                        "-k", "POST-006", "--suite", str(root), "--cache", str(tmp_path)])
    setup = bisect.setup_from(args)
    assert setup.drop == ("fastapi",) and setup.cache == tmp_path.resolve()
    assert setup.pytest_args[setup.pytest_args.index("--bgtasks-target") + 1] == bisect.STARLETTE_APP
    assert setup.overrides("0.20.4") == ["starlette==0.20.4", "anyio<4", 'fastapi ; python_version < "3"']
    kept = bisect.setup_from(bisect._parser().parse_args(
        ["--package", "starlette", "--from", "0.38.0", "--to", "0.39.0", "--with", "fastapi==0.114.2",
         "--suite", str(root), "--cache", str(tmp_path)]))
    assert kept.drop == () and "--bgtasks-target" not in kept.pytest_args


def test_not_a_checkout_is_refused(tmp_path: Path) -> None:
    args = bisect._parser().parse_args(["--package", "starlette", "--from", "0.1", "--to", "0.2",
                                        "--suite", str(tmp_path)])
    with pytest.raises(SystemExit, match="not one"):
        bisect.setup_from(args)


@pytest.mark.skipif(not os.environ.get("BGTASKS_BISECT_REAL"),
                    reason="a real bisect installs releases (set BGTASKS_BISECT_REAL=1; a minute with a cold cache)")
def test_a_real_bisect_finds_the_dispatch_background_boundary(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                              ) -> None:
    if shutil.which("uv") is None and not _has_uv_module():
        pytest.skip("uv is not installed")
    root = Path(__file__).resolve().parents[1]
    cache = Path(os.environ.get("BGTASKS_CACHE", tmp_path / "cache"))
    assert bisect.main(["--package", "starlette", "--from", "0.38.0", "--to", "0.39.0", "-k", "POST-009", "--all",
                        "--every", "3", "--versions", "0.38.0,0.38.2,0.38.3,0.38.4,0.38.5,0.38.6,0.39.0",
                        "--suite", str(root), "--cache", str(cache)]) == 0
    out = capsys.readouterr().out
    assert "boundary: starlette 0.38.2 -> 0.38.3\n" in out and "boundary: starlette 0.38.4 -> 0.38.5\n" in out
    assert "REGRESSION POST-009 [MUST]: passed -> expected-failure" in out  # declared in the expectations
    assert "improved POST-009 [MUST]: expected-failure -> passed" in out


def _has_uv_module() -> bool:
    try:
        import uv  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True


def test_setup_reuses_a_complete_environment(tmp_path: Path) -> None:
    setup = Setup(package="starlette", suite=Path(__file__).resolve().parents[1], cache=tmp_path)
    setup._wheel = tmp_path / "bgtasks_conformance-0-py3-none-any.whl"
    env = tmp_path / "envs" / setup.key("0.38.5")
    env.mkdir(parents=True)
    (env / ".complete").write_text("0.38.5\n")
    assert setup.environment("0.38.5") == env / "bin" / "python"
    assert setup.built["reused"] == 1 and setup.built["created"] == 0
