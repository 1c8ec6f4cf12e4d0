"""Where an exception ended up: the chain of exceptions around it, and how a wrapped one is held.

A framework may re-raise a task's exception inside its own (``raise X from error``) or inside an
exception group; a requirement that asks for the very exception says what was seen instead.
"""

from __future__ import annotations

from collections.abc import Iterator


def causes(error: BaseException | None) -> Iterator[BaseException]:
    """``error`` and the exceptions it was raised from or while handling."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def wrapped_in(outer: BaseException | None, error: BaseException) -> str | None:
    """The path from ``outer`` to ``error`` (``__cause__``, ``exceptions[0].__context__`` ...), if ``outer``
    holds it without being it; None when ``outer`` is ``error`` or does not hold it."""
    seen: set[int] = set()

    def find(exc: BaseException | None, path: str) -> str | None:
        if exc is None or id(exc) in seen:
            return None
        seen.add(id(exc))
        if exc is error:
            return path
        if isinstance(exc, BaseExceptionGroup):
            for n, inner in enumerate(exc.exceptions):
                if (found := find(inner, f"{path}.exceptions[{n}]")) is not None:
                    return found
        return find(exc.__cause__, f"{path}.__cause__") or find(exc.__context__, f"{path}.__context__")

    if outer is None or outer is error:
        return None
    found = find(outer, "")
    return None if found is None else found.removeprefix(".")


def wrapping(outer: BaseException | None, error: BaseException) -> str | None:
    """``"wrapped in LitestarException('...') (the task's exception is its __cause__)"``, or None if not wrapped."""
    path = wrapped_in(outer, error)
    if path is None or outer is None:
        return None
    return f"wrapped in {type(outer).__name__}({str(outer)!r}) (the task's exception is its {path})"
