"""Worker output in failure messages: what each worker process printed while a queue-tier test ran.

Every worker's output goes to a file of its own in the stack's temporary directory (never the working
directory). :func:`marks` notes how far each file is at the start of a test; when the test fails,
:func:`since` gives the last lines each worker wrote after that, labelled by the worker's name, and
:func:`append_to` ends the failure's message with them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bgtasks_conformance.queue.processes import Child

LINES = 6  # the last lines of each worker
WIDTH = 200  # characters of each line
HEADER = "worker output since the test began"


def children(stack: Any) -> list[Child]:
    """Every worker process of the stack, running or ended (killed, stopped), the other brokers' ones included."""
    from bgtasks_conformance.queue.workers import Workers

    groups = [stack.workers, *(part for part in stack.extra if isinstance(part, Workers))]
    return [child for group in groups for child in (*group.ended, *group.running.values())]


def marks(stack: Any) -> dict[Path, int]:
    """How many bytes each worker's output file holds now."""
    return {child.log: _size(child.log) for child in children(stack)}


def since(stack: Any, marked: dict[Path, int], lines: int = LINES, width: int = WIDTH) -> str:
    """The last ``lines`` lines each worker wrote after ``marked`` (a worker started since: all of its output)."""
    parts = []
    for child in children(stack):
        text = _read_from(child.log, marked.get(child.log, 0))
        state = "running" if child.alive() else f"ended, exit {child.process.returncode}"
        shown = [line[:width] + (" ..." if len(line) > width else "") for line in text.splitlines() if line.strip()]
        if not shown:
            parts.append(f"  {child.name} (pid {child.pid}, {state}): nothing")
            continue
        left_out = f", {len(shown) - lines} earlier lines left out" if len(shown) > lines else ""
        parts.append(f"  {child.name} (pid {child.pid}, {state}{left_out}):")
        parts += [f"  {child.name}| {line}" for line in shown[-lines:]]
    where = stack.directory if children(stack) else "-"
    return f"{HEADER} (the last {lines} lines of each; the files are in {where}):\n" + "\n".join(parts or ["  none"])


def append_to(error: BaseException, text: str) -> None:
    """End ``error``'s message with ``text`` (its ``str()``, which the failure message and report are made of)."""
    if len(error.args) == 1 and isinstance(error.args[0], str):
        error.args = (f"{error.args[0]}\n{text}",)
    elif not error.args:
        error.args = (text,)
    else:
        error.add_note(text)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as file:
            file.seek(offset)
            return file.read().decode(errors="replace")
    except OSError:
        return ""
