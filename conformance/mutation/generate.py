"""The mutants of the installed framework's background-task code: sites, mutated sources, equivalents."""

from __future__ import annotations

import ast
import importlib.util
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bgtasks_conformance.mutation.operators import BY_NAME, OPERATORS, swap_with_next
from bgtasks_conformance.mutation.selection import SELECTION, Part, scope

# The target files (relative to site-packages) and the parts of each that are mutated (see selection.py).
TARGETS: dict[str, tuple[Part, ...]] = SELECTION
EQUIVALENT = "equivalent"


@dataclass
class Mutant:
    """One mutant of one file: where, which operator, the mutated source and, if so, why it is equivalent."""

    id: str
    file: str
    line: int
    operator: str
    original: str
    mutated: str
    source: str
    equivalent: str | None = None
    function: str = ""
    lines: tuple[int, ...] = ()
    enclosing: tuple[int, ...] = ()  # the lines of the innermost function around it (see Reach.tests_for_mutant)


def framework_root(file: str) -> Path:
    """The site-packages (or other) folder the target file's top-level package is installed in."""
    top = file.split("/", 1)[0]
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"bgtasks mutation: {top} is not installed in this environment; install it or drop "
                         f"{file} with --files")
    root = Path(next(iter(spec.submodule_search_locations))).parent
    if file.endswith(".py") and not (root / file).is_file():
        raise SystemExit(f"bgtasks mutation: {file} is not in the installed {top} ({root / top}); this release "
                         f"lacks it, drop it with --files")
    return root


def _walk(node: ast.AST, parent: ast.AST | None = None) -> Iterator[tuple[ast.AST, ast.AST | None]]:
    """Every node with its parent, depth first, in a fixed order (a node's index names it in a fresh parse)."""
    yield node, parent
    for child in ast.iter_child_nodes(node):
        yield from _walk(child, node)


def _skipped(tree: ast.Module) -> set[int]:
    """ids of nodes never mutated: docstrings and annotations (and all below them)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            skipped.update(id(inner) for inner in ast.walk(body[0]))
        annotations: list[ast.AST | None] = []
        if isinstance(node, ast.arg):
            annotations.append(node.annotation)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            annotations.append(node.returns)
        if isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        for annotation in annotations:
            if annotation is not None:
                skipped.update(id(inner) for inner in ast.walk(annotation))
    return skipped


def sites(source: str, parts: tuple[Part, ...], file: str = "snippet.py") -> list[tuple[int, str, str]]:
    """``(node index, operator name, function)`` of every mutation the parts of a source admit."""
    tree = ast.parse(source)
    covered, skipped = scope(file, tree, source, parts), _skipped(tree)
    found = []
    for index, (node, parent) in enumerate(_walk(tree)):
        if id(node) in covered and id(node) not in skipped:
            found += [(index, operator.name, covered[id(node)]) for operator in OPERATORS
                      if operator.applies(node, parent)]
    return found


def _header_lines(statement: ast.stmt) -> set[int]:
    """The lines a statement executes on its own: a compound statement's header, a simple one's every line."""
    headers: list[ast.AST] = []
    if isinstance(statement, ast.If | ast.While):
        headers = [statement.test]
    elif isinstance(statement, ast.For | ast.AsyncFor):
        headers = [statement.target, statement.iter]
    elif isinstance(statement, ast.With | ast.AsyncWith):
        headers = [item.context_expr for item in statement.items]
    elif not hasattr(statement, "body"):
        headers = [statement]
    lines = {statement.lineno}
    for header in headers:
        lines.update(range(header.lineno, (header.end_lineno or header.lineno) + 1))  # type: ignore[attr-defined]
    return lines


def _replace(parent: ast.AST, old: ast.AST, new: ast.AST) -> None:
    """Puts ``new`` where ``old`` was; a ``pass`` for a statement in a block of others deletes it instead."""
    for field, value in ast.iter_fields(parent):
        if isinstance(value, list):
            for position, item in enumerate(value):
                if item is old:
                    if isinstance(new, ast.Pass) and len(value) > 1:
                        del value[position]
                    else:
                        value[position] = new
                    return
        elif value is old:
            setattr(parent, field, new)
            return
    raise ValueError("the mutated node is not a child of its parent")


def _first_line(node: ast.AST) -> str:
    text = ast.unparse(node).splitlines()[0] if not isinstance(node, ast.Pass) else "(statement removed)"
    return text if len(text) <= 120 else text[:117] + "..."


def mutate(source: str, index: int, operator: str) -> tuple[str, int, str, tuple[int, ...]]:
    """The mutated source of one site, its line, the mutated statement's first line, and the lines that a test
    must execute to run the mutated code (the statement's own lines; both statements' for a swap)."""
    tree = ast.parse(source)
    nodes = list(_walk(tree))
    node, parent = nodes[index]
    statement = next((candidate for candidate, _ in reversed(nodes[: index + 1])
                      if isinstance(candidate, ast.stmt) and any(inner is node for inner in ast.walk(candidate))),
                     node)
    line = getattr(node, "lineno", getattr(statement, "lineno", 0))
    lines = _header_lines(statement) if isinstance(statement, ast.stmt) else {line}
    if isinstance(node, ast.expr):  # an expression in a compound statement's header or a multi-line statement
        lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    if operator == "swap_await_order":
        assert parent is not None
        following = _next_statement(parent, node)
        lines.update(_header_lines(following))
        swap_with_next(parent, node)  # type: ignore[arg-type]
        shown = f"{_first_line(node)}  <- now after the next await"
    else:
        new = BY_NAME[operator].mutate(node)
        if new is not node:
            assert parent is not None
            _replace(parent, node, new)
            if statement is node:
                statement = new
        shown = _first_line(statement)
    return ast.unparse(ast.fix_missing_locations(tree)), line, shown, tuple(sorted(lines))


def _next_statement(parent: ast.AST, node: ast.AST) -> ast.stmt:
    """The statement after ``node`` in its block (swap_await_order's partner, read before the swap)."""
    for field in ("body", "orelse", "finalbody"):
        block = getattr(parent, field, None)
        if isinstance(block, list) and node in block:
            return block[block.index(node) + 1]
    raise ValueError("swap_await_order: the statement is not in a block of its parent")


def _innermost(spans: list[tuple[int, int]], line: int) -> tuple[int, ...]:
    """The lines of the innermost function whose span holds ``line`` (none outside a function)."""
    around = [span for span in spans if span[0] <= line <= span[1]]
    if not around:
        return ()
    first, last = min(around, key=lambda span: span[1] - span[0])
    return tuple(range(first, last + 1))


def mutants_of(file: str, source: str, parts: tuple[Part, ...]) -> list[Mutant]:
    """Every mutant of one file's source, in a fixed order, the equivalent ones marked with their reason."""
    lines = source.splitlines()
    tree = ast.parse(source)
    unchanged = ast.unparse(tree)
    spans = [(node.lineno, node.end_lineno or node.lineno) for node in ast.walk(tree)
             if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    seen: dict[str, str] = {}
    found = []
    for number, (index, operator, function) in enumerate(sites(source, parts, file), 1):
        mutated, line, shown, executed = mutate(source, index, operator)
        mutant = Mutant(id=f"{file}#{number}", file=file, line=line, operator=operator,
                        original=lines[line - 1].strip() if 0 < line <= len(lines) else "", mutated=shown,
                        source=mutated, function=function, lines=executed,
                        enclosing=_innermost(spans, line))
        if mutated == unchanged:
            mutant.equivalent = "the source is unchanged after unparse"
        elif mutated in seen:
            mutant.equivalent = f"the source is identical to {seen[mutated]}'s"
        else:
            seen[mutated] = mutant.id
        found.append(mutant)
    return found


def mutants(files: list[str]) -> list[Mutant]:
    """Every mutant of the installed target files."""
    return [mutant for file in files
            for mutant in mutants_of(file, (framework_root(file) / file).read_text(encoding="utf-8"), TARGETS[file])]


def round_trip(source: str) -> tuple[str, dict[int, set[int]]]:
    """The source round-tripped through the AST (what every mutant is made of), and a map from its lines to
    the original's: each node's line in the round-tripped text to the same node's line in the original."""
    original = ast.parse(source)
    text = ast.unparse(original)
    lines: dict[int, set[int]] = {}
    for before, after in zip(ast.walk(original), ast.walk(ast.parse(text)), strict=True):
        if hasattr(before, "lineno") and hasattr(after, "lineno"):
            lines.setdefault(after.lineno, set()).add(before.lineno)
    return text, lines


def sample(candidates: list[Mutant], size: int | None, seed: int) -> list[Mutant]:
    """``size`` of the candidates drawn with ``seed`` (the same seed, the same mutants), in their order."""
    if size is None or size >= len(candidates):
        return candidates
    picked = set(random.Random(seed).sample(range(len(candidates)), size))
    return [mutant for position, mutant in enumerate(candidates) if position in picked]
