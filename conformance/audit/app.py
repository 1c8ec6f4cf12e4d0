"""Loading the app under audit: ``MODULE:ATTR`` names an ASGI app or a zero-argument factory of one."""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
from pathlib import Path
from typing import Any


class AppError(Exception):
    """The app cannot be loaded; the message names the option's value and the fix."""


def load_app(spec: str, cwd: Path) -> Any:
    """Import ``MODULE:ATTR`` (the invocation directory on ``sys.path``, as for ``uvicorn``) and return the app."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise AppError(f"--bgtasks-app {spec!r}: give MODULE:ATTRIBUTE, e.g. --bgtasks-app myapp.main:app")
    if str(cwd) not in sys.path:
        sys.path.insert(0, str(cwd))
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise AppError(f"--bgtasks-app {spec!r}: cannot import {module_name} ({error}); run from the directory "
                       "that contains it or install your project in this environment") from None
    found: Any = module
    for part in attr.split("."):
        if not hasattr(found, part):
            raise AppError(f"--bgtasks-app {spec!r}: {module_name} has no attribute {attr!r}")
        found = getattr(found, part)
    if _is_factory(found):
        try:
            found = found()
        except TypeError as error:
            raise AppError(f"--bgtasks-app {spec!r}: the factory must take no arguments ({error}); wrap it in one "
                           "that passes your test settings") from None
    if not callable(found):
        raise AppError(f"--bgtasks-app {spec!r}: {type(found).__name__} is not an ASGI application")
    return found


def _is_factory(obj: Any) -> bool:
    """A plain function or partial that is not itself an ASGI app (an ``async def app(scope, receive, send)``)."""
    target = obj.func if isinstance(obj, functools.partial) else obj
    return inspect.isfunction(target) and not inspect.iscoroutinefunction(target)
