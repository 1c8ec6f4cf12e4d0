"""Equivalent mutants: those that cannot change behaviour, each judged with its reason.

Mechanical judgements (generate.py marks the first two): the mutated source is the original's, or another
mutant's; or it compiles to the same bytecode as the original. Judged by hand (JUDGED): a mutant whose
code no ASGI call can make behave differently, with the argument written next to it; each is matched by
file, function, operator and the original and mutated text, so that a new release's changed code is judged anew.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from types import CodeType
from typing import Any

from bgtasks_conformance.mutation.generate import Mutant


@dataclass(frozen=True)
class Judged:
    """A mutant judged equivalent by hand: where (file, function, operator, text in the original and the
    mutated line) and why."""

    file: str
    function: str
    operator: str
    original: str
    mutated: str
    reason: str

    def matches(self, mutant: Mutant) -> bool:
        return (mutant.file, mutant.function, mutant.operator) == (self.file, self.function, self.operator) and (
            self.original in mutant.original and self.mutated in mutant.mutated)


# The closing message BaseHTTPMiddleware's re-streamed response sends: {"type": "http.response.body", "body": b"",
# "more_body": False}. The ASGI HTTP spec gives both keys a default, exactly these values.
_CLOSING_BODY = 'await send({"type": "http.response.body", "body": b"", "more_body": False})'
_ASGI_DEFAULTS = ("the ASGI HTTP spec (Response Body send event) makes the key optional with the very value the line "
                  "gives it: body \"Optional; if missing, it is equivalent to b''\", more_body \"Optional; if "
                  "missing, defaults to False\"; the renamed key is unknown and ignored, so every conforming server "
                  "(and the suite's driver and wire taps, which read both keys with those defaults) sees the same "
                  "closing message")

JUDGED: tuple[Judged, ...] = (
    Judged("starlette/middleware/base.py", "_StreamingResponse.__call__", "change_constant", _CLOSING_BODY,
           "'XXbodyXX': b''", f"without 'body': {_ASGI_DEFAULTS}"),
    Judged("starlette/middleware/base.py", "_StreamingResponse.__call__", "change_constant", _CLOSING_BODY,
           "'XXmore_bodyXX': False", f"without 'more_body': {_ASGI_DEFAULTS}"),
)


def _shape(code: CodeType) -> tuple[Any, ...]:
    """A code object without its positions: bytecode, names and constants (nested code objects likewise)."""
    consts = tuple(_shape(const) if isinstance(const, CodeType) else (type(const).__name__, repr(const))
                   for const in code.co_consts)
    return code.co_code, code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars, consts


def same_bytecode(original: str, mutated: str) -> bool:
    """Whether two sources compile to the same bytecode (line numbers aside)."""
    try:
        return _shape(compile(ast.parse(original), "<original>", "exec")) == _shape(
            compile(ast.parse(mutated), "<mutant>", "exec"))
    except SyntaxError:
        return False


def judge(mutants: list[Mutant], originals: dict[str, str]) -> None:
    """Marks the equivalent mutants not yet marked (same bytecode as the original; judged by hand)."""
    for mutant in mutants:
        if mutant.equivalent:
            continue
        if same_bytecode(originals[mutant.file], mutant.source):
            mutant.equivalent = "compiles to the same bytecode as the original"
            continue
        for judged in JUDGED:
            if judged.matches(mutant):
                mutant.equivalent = judged.reason
                break
