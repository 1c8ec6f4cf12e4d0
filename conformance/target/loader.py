"""The implementation under test: how it is chosen, imported, checked and built.

A target is a factory ``create_app(env: TargetEnv) -> ASGI app`` named ``MODULE:ATTRIBUTE``.
Every problem with it becomes one :class:`TargetError` that names the problem and the fix.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bgtasks_conformance.observe.probe import Probe
from bgtasks_conformance.plugin.entry import DEFAULT_TARGET, TARGET_ENV_VAR, TARGET_INI
from bgtasks_conformance.target.queue import BROKER_VAR, QueueSpec, declared_queue
from bgtasks_conformance.target.scenario import AddTask, Plan, schedule

ENV_VAR, INI_NAME = TARGET_ENV_VAR, TARGET_INI
FACTORY_HINT = "def create_app(env: bgtasks_conformance.TargetEnv) -> ASGIApp  (see CONTRACT.md)"


class TargetError(Exception):
    """The target cannot be used; the message says why and what to do."""


@dataclass
class TargetEnv:
    """What the harness hands the factory: the probe, a directory for files, settings."""

    probe: Probe
    data_dir: Path
    work_seconds: float = 0.0
    # The queue tier: the broker the suite started (``BGTASKS_BROKER_URL``), and the probe's address for
    # tasks that run in another process; a child web process is given its parent's (``probe_address``).
    broker_url: str | None = field(default_factory=lambda: os.environ.get(BROKER_VAR))
    remote_address: str | None = None
    _server: Any = field(default=None, repr=False)

    def schedule(self, body: Any, add_task: AddTask, *, by_name: bool = False) -> Plan:
        """Add the tasks a ``/scenario`` plan describes through ``add_task``.

        ``by_name``: for a queue, whose worker runs importable functions it knows by name: the tasks are
        :mod:`bgtasks_conformance.target.named`'s functions, with their plan and :attr:`probe_address` as the
        first argument (JSON, as every other argument must be).
        """
        return schedule(self.probe, self.data_dir, body, add_task, remote=self.probe_address if by_name else None)

    @property
    def probe_address(self) -> str:
        """``host:port:key`` of this probe's server, for tasks in other processes (started on first use)."""
        if self.remote_address is None:
            from bgtasks_conformance.observe.remote import ProbeServer

            self._server = ProbeServer(self.probe)
            self.remote_address = self._server.address
        return self.remote_address

    def close(self) -> None:
        """Stop the probe's server, if one was started."""
        if self._server is not None:
            self._server.close()
            self._server = None

    def observed(self, func: Any = None, *, name: str | None = None) -> Any:
        """Decorate a task function so that it reports to the probe (see ``Probe.observed``)."""
        return self.probe.observed(func, name=name)


@dataclass(frozen=True)
class TargetChoice:
    spec: str
    source: str


def choose_target(
    option: str | None, ini: str | None, environ: Mapping[str, str] = os.environ
) -> TargetChoice:
    """``--bgtasks-target`` beats ``BGTASKS_TARGET`` beats the ini option beats the bundled sample app."""
    if option:
        return TargetChoice(option, "--bgtasks-target option")
    if environ.get(ENV_VAR):
        return TargetChoice(environ[ENV_VAR], f"{ENV_VAR} environment variable")
    if ini:
        return TargetChoice(ini, f"{INI_NAME} ini key")
    return TargetChoice(DEFAULT_TARGET, "default: the bundled sample app")


@dataclass
class Target:
    """A loaded factory and what it declared about itself."""

    choice: TargetChoice
    factory: Callable[[TargetEnv], Any]
    lacks: dict[str, str] = field(default_factory=dict)
    expectations: str | None = None
    queue: QueueSpec | None = None  # a queue-backed target's worker and guarantees (conformance_queue)
    # around each factory call: the run's bound on it, no exit forced (plugin/bounds.py)
    guard: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext

    def build(self, env: TargetEnv) -> Any:
        with self.guard():
            return self._build(env)

    def _build(self, env: TargetEnv) -> Any:
        with _sys_path_kept(f"target {self.choice.spec} ({self.choice.source}): the factory"):
            app = self._call(env)
        if not _is_asgi_app(app, uninspectable=True):
            raise TargetError(
                f"target {self.choice.spec} ({self.choice.source}): the factory returned "
                f"{type(app).__name__}, which is not an ASGI application.\n"
                f"Return the app: {FACTORY_HINT}"
            )
        return app

    def _call(self, env: TargetEnv) -> Any:
        try:
            return self.factory(env)
        except ImportError as error:
            raise TargetError(_import_problem(self.choice.spec, error)) from error
        except Exception as error:
            raise TargetError(
                f"target {self.choice.spec} ({self.choice.source}): the factory raised "
                f"{type(error).__name__}: {error}\nFix the factory; it must return an ASGI app."
            ) from error


def load_target(choice: TargetChoice, app_dir: Path | None = None) -> Target:
    """Import the factory; like uvicorn, ``app_dir`` (the directory pytest runs in) is importable."""
    if app_dir is not None and str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    module_name, sep, attribute = choice.spec.partition(":")
    where = f"target {choice.spec!r} ({choice.source})"
    if not sep or not module_name or not attribute:
        raise TargetError(
            f"{where} is not of the form MODULE:ATTRIBUTE.\n"
            f"Name a factory, e.g. --bgtasks-target myapp.main:create_app, with {FACTORY_HINT}"
        )
    with _sys_path_kept(f"{where}: importing {module_name}"):
        module = _import(module_name, choice.spec, where)
    factory: Any = module
    for part in attribute.split("."):
        if not hasattr(factory, part):
            raise TargetError(
                f"{where}: module {module_name} has no attribute {attribute!r}.\n"
                f"Name the factory function there: {FACTORY_HINT}"
            )
        factory = getattr(factory, part)
    _check_factory(factory, where)
    lacks = _declared_lacks(factory, where)
    declared = getattr(factory, "conformance_expectations", None)
    expectations_path = str(Path(module.__file__ or ".").parent / declared) if declared else None
    try:
        queue = declared_queue(factory)
    except ValueError as error:
        raise TargetError(f"{where}: {error}") from None
    return Target(choice, factory, lacks, expectations_path, queue)


def _import(module_name: str, spec: str, where: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        raise TargetError(_import_problem(spec, error, where=where)) from error
    except Exception as error:
        raise TargetError(f"{where}: importing {module_name} raised {type(error).__name__}: {error}") from error


LACKS_HINT = 'create_app.conformance_lacks = {"sync-endpoint": "why it lacks it"}'


def _declared_lacks(factory: Any, where: str) -> dict[str, str]:
    """``conformance_lacks``: a mapping of capability names to reasons (absent or empty: none)."""
    try:
        raw = getattr(factory, "conformance_lacks", None)
        lacks = {} if raw is None else dict(raw) if isinstance(raw, Mapping) else None
    except Exception as error:  # a property or a mapping of the target's that raises
        raise TargetError(f"{where}: reading its conformance_lacks raised {type(error).__name__}: {error}. "
                          f"Declare a plain dict: {LACKS_HINT}") from None
    if lacks is None or not all(isinstance(k, str) and isinstance(v, str) for k, v in lacks.items()):
        shown = type(raw).__name__ if lacks is None else "a mapping with non-text names or reasons"
        raise TargetError(f"{where}: conformance_lacks is {shown}, not a mapping of capability names to reasons. "
                          f"Declare a dict: {LACKS_HINT}")
    return lacks


@contextlib.contextmanager
def _sys_path_kept(what: str) -> Iterator[None]:
    """The target may add to ``sys.path``; removing what was there breaks the suite's own imports: refused, undone."""
    before = list(sys.path)
    yield
    missing = [entry for entry in before if entry not in sys.path]
    if missing:
        sys.path[:0] = [entry for entry in before if entry not in sys.path]
        raise TargetError(f"{what} removed {len(missing)} entries from sys.path (e.g. {missing[0]!r}); "
                          "the suite restored them. Add to sys.path if needed, never remove from it")


def _check_factory(factory: Any, where: str) -> None:
    if _is_asgi_app(factory) and not inspect.isfunction(factory):
        raise TargetError(
            f"{where} is an ASGI application ({type(factory).__name__}), not a factory.\n"
            f"Wrap it so the suite can give it a probe and a directory: {FACTORY_HINT}"
        )
    if not callable(factory):
        raise TargetError(f"{where} is a {type(factory).__name__}, not callable.\n{FACTORY_HINT}")
    try:
        inspect.signature(factory).bind(object())
    except TypeError:
        raise TargetError(
            f"{where} cannot be called with one argument (the TargetEnv).\n{FACTORY_HINT}"
        ) from None
    except ValueError:  # no signature to inspect (a builtin): trust it
        pass


def _is_asgi_app(obj: Any, *, uninspectable: bool = False) -> bool:
    """Callable with (scope, receive, send); ``uninspectable`` is the answer when that cannot be seen."""
    if not callable(obj):
        return False
    call = obj if inspect.isfunction(obj) or inspect.ismethod(obj) else obj.__call__
    try:
        params = [
            p for p in inspect.signature(call).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):  # e.g. compiled code without a signature
        return uninspectable
    return len(params) == 3


def _import_problem(spec: str, error: ImportError, *, where: str | None = None) -> str:
    where = where or f"target {spec!r}"
    missing = getattr(error, "name", None) or ""
    if missing == "email_validator" or "email-validator" in str(error):
        return (
            f"{where} needs the email-validator package, which is not installed "
            f"(pydantic's EmailStr uses it).\nInstall it: pip install 'email-validator>=2'"
        )
    module_name = spec.partition(":")[0]
    if missing and (module_name == missing or module_name.startswith(f"{missing}.")):
        return (
            f"{where}: cannot import module {module_name!r} ({error}).\n"
            f"Install the package that provides it, or run pytest from the directory that contains it."
        )
    return (
        f"{where}: importing {module_name} failed: {error}.\n"
        f"Install what it needs: pip install {missing or '...'}"
    )
