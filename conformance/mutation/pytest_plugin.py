"""The pytest plugin of the mutation runs (loaded only by them, as ``-p bgtasks_mutation_plugin``).

Standalone (pytest and the standard library only): the command copies this file into its own folder on
``PYTHONPATH``, so that it loads in a framework's throwaway test environment too, where the suite is not
installed. Both jobs are driven by environment variables:

- ``BGTASKS_MUTATION_RECORD=PATH``: under ``coverage run``, each test's lines are recorded in its own
  coverage context (named by the test's id), and each test's id, seconds and outcome is appended to PATH
  (JSON lines).
- ``BGTASKS_MUTATION_SELECT=PATH``: only the tests whose ids PATH lists (one a line) run, in PATH's order.
- ``BGTASKS_MUTATION_SKIPS=PATH``: each selected test that is skipped (not an expected failure) is appended to
  PATH with its reason: it ran on the unmutated framework, so under the mutant it became untested (the spec's
  preflight skips a requirement whose route the mutant broke).

A test's id is ``<absolute path of its file>::<its name in that file>``, the same whatever the rootdir.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Generator
from typing import Any

import pytest

RECORD = "BGTASKS_MUTATION_RECORD"
SELECT = "BGTASKS_MUTATION_SELECT"
SKIPS = "BGTASKS_MUTATION_SKIPS"


def test_id(item: pytest.Item) -> str:
    """``<absolute path>::<name in the file>`` (a nodeid's path part depends on the rootdir)."""
    return f"{item.path}::{item.nodeid.split('::', 1)[1]}" if "::" in item.nodeid else str(item.path)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``BGTASKS_MUTATION_SELECT``: keep the listed tests only, in the listed order."""
    path = os.environ.get(SELECT)
    if not path:
        return
    with open(path, encoding="utf-8") as handle:
        wanted = [line.rstrip("\n") for line in handle if line.strip()]
    order = {name: position for position, name in enumerate(wanted)}
    kept = sorted((item for item in items if test_id(item) in order), key=lambda item: order[test_id(item)])
    deselected = [item for item in items if test_id(item) not in order]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = kept


def _coverage() -> Any:
    try:
        import coverage
    except ImportError:
        return None
    return coverage.Coverage.current()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    """With ``BGTASKS_MUTATION_RECORD``: the test's own coverage context, its seconds and its outcome."""
    record = os.environ.get(RECORD)
    cov = _coverage() if record else None
    if cov is not None:
        cov.switch_context(test_id(item))
    started = time.perf_counter()
    yield
    seconds = time.perf_counter() - started
    if cov is not None:
        cov.switch_context("")
    if record:
        with open(record, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"id": test_id(item), "seconds": round(seconds, 4),
                                     "failed": item.nodeid in _FAILED_IDS}) + "\n")


_FAILED_IDS: set[str] = set()


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Marks the test failed when any phase's final report fails (a plugin's expected failure is not one)."""
    if report.failed:
        _FAILED_IDS.add(report.nodeid)
    skips = os.environ.get(SKIPS)
    if skips and report.skipped and not hasattr(report, "wasxfail"):
        reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        with open(skips, "a", encoding="utf-8") as handle:
            handle.write(f"{report.nodeid}: {' '.join(reason.split())[:160]}\n")
