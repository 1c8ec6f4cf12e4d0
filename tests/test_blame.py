"""Whose code broke: the suite's own (a harness error, never the target's) or the target's."""

from __future__ import annotations

import json
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
