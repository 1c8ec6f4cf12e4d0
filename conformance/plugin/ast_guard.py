"""One thread at a time in ``ast.parse``, on the CPython releases where two at once can fail.

CPython 3.11.0 to 3.11.7 and 3.12.0 to 3.12.1 keep the AST constructor's recursion depth in state that
every thread shares (https://github.com/python/cpython/issues/106905, fixed in 3.11.8 and 3.12.2). When
a garbage collection during one thread's parse lets another thread parse too, one of them raises
``SystemError: AST constructor recursion depth mismatch``. Both pytest (formatting a failure) and the
``traceback`` module (formatting a logged exception, in a server's thread) call ``ast.parse``; when that
happens at the same moment, pytest stops with INTERNALERROR. While :func:`guarded` is open on an
affected release, ``ast.parse`` takes a lock first; elsewhere it changes nothing.
"""

from __future__ import annotations

import ast
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

AFFECTED = (3, 11) <= sys.version_info[:3] < (3, 11, 8) or (3, 12) <= sys.version_info[:3] < (3, 12, 2)

UNGUARDED_PARSE: Callable[..., Any] = ast.parse

_lock = threading.RLock()
_state_lock = threading.Lock()
_users = 0
_replaced: Callable[..., Any] = ast.parse


def serialised_parse(*args: Any, **kwargs: Any) -> Any:
    """``ast.parse``, one thread at a time."""
    with _lock:
        return UNGUARDED_PARSE(*args, **kwargs)


@contextmanager
def guarded(affected: bool = AFFECTED) -> Iterator[None]:
    """While open (nestable), ``ast.parse`` runs in one thread at a time if ``affected``."""
    global _users, _replaced
    if not affected:
        yield
        return
    with _state_lock:
        if _users == 0:
            _replaced = ast.parse
            ast.parse = serialised_parse
        _users += 1
    try:
        yield
    finally:
        with _state_lock:
            _users -= 1
            if _users == 0:
                ast.parse = _replaced
