"""The end of a run is bounded for the target's sake only: pytest's own slow work there (removing earlier runs'
temporary directories on a loaded machine) is never read as the target holding the run."""

from __future__ import annotations

import sysconfig
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bgtasks_conformance.plugin.watchdog import Expired, Watchdog
from bgtasks_conformance.target.frames import TargetCode

pytestmark = pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="SIGALRM")
BOUND = 0.3


@pytest.fixture
def watchdog(tmp_path: Path) -> Iterator[Watchdog]:
    dog = Watchdog(TargetCode(root=tmp_path, tests={__file__}), grace=BOUND)  # this module: the run's own
    yield dog
    dog.close()


def test_the_environments_console_scripts_are_not_the_targets_code(tmp_path: Path) -> None:
    code = TargetCode(root=None)
    assert not code.owns(str(Path(sysconfig.get_path("scripts")) / "pytest")), "bin/pytest read as the target's"
    assert code.owns(str(tmp_path / "app.py")), "a module outside any installation is the target's"


def test_the_end_of_the_run_is_not_interrupted_while_no_target_code_runs(watchdog: Watchdog) -> None:
    """The block outlives its bound three times over in the standard library (as pytest's rmtree does)."""
    with watchdog.bounded("the end of the run", BOUND, "--bgtasks-exit-timeout", target_only=True) as phase:
        threading.Event().wait(BOUND * 3)
    assert not phase.expired, phase.message


def test_the_end_of_the_run_is_interrupted_while_the_targets_code_holds_it(watchdog: Watchdog, tmp_path: Path) -> None:
    source = tmp_path / "target_teardown.py"
    source.write_text("import threading\n\ndef teardown():\n    threading.Event().wait(30)\n")
    namespace: dict[str, object] = {}
    exec(compile(source.read_text(), str(source), "exec"), namespace)
    with pytest.raises(Expired, match=r"(?s)the end of the run did not end within 0.3s .*target_teardown.py:4"), \
            watchdog.bounded("the end of the run", BOUND, "--bgtasks-exit-timeout", target_only=True):
        namespace["teardown"]()  # type: ignore[operator]
