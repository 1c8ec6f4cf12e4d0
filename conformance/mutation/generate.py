"""The mutants of the installed framework's background-task code: sites, mutated sources, equivalents."""

from __future__ import annotations

import ast
import importlib.util
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bgtasks_conformance.mutation.operators import BY_NAME, OPERATORS, swap_with_next

# The target files (relative to site-packages) and what of each is mutated: the whole file, or only its
# functions and methods whose source mentions "background" (and everything nested in them).
WHOLE = "whole file"
BACKGROUND = "functions that mention background"
TARGETS: dict[str, str] = {
    "starlette/background.py": WHOLE,
    "starlette/responses.py": BACKGROUND,
    "starlette/middleware/base.py": BACKGROUND,
    "fastapi/background.py": WHOLE,
    "fastapi/routing.py": BACKGROUND,
    "fastapi/dependencies/utils.py": BACKGROUND,
}
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


def _in_scope(tree: ast.Module, source: str, scope: str) -> set[int]:
    """ids of the nodes the scope covers."""
    if scope == WHOLE:
        return {id(node) for node in ast.walk(tree)}
    roots = []
    for node in tree.body:
        defs = node.body if isinstance(node, ast.ClassDef) else [node]
        roots += [item for item in defs if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                  and "background" in (ast.get_source_segment(source, item) or "")]
    return {id(inner) for root in roots for inner in ast.walk(root)}


def sites(source: str, scope: str) -> list[tuple[int, str]]:
    """``(node index, operator name)`` of every mutation the scope of a source admits."""
    tree = ast.parse(source)
    covered, skipped = _in_scope(tree, source, scope), _skipped(tree)
    found = []
    for index, (node, parent) in enumerate(_walk(tree)):
        if id(node) in covered and id(node) not in skipped:
            found += [(index, operator.name) for operator in OPERATORS if operator.applies(node, parent)]
    return found


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


def mutate(source: str, index: int, operator: str) -> tuple[str, int, str]:
    """The mutated source of one site, its line and the mutated statement's first line."""
    tree = ast.parse(source)
    nodes = list(_walk(tree))
    node, parent = nodes[index]
    statement = next((candidate for candidate, _ in reversed(nodes[: index + 1])
                      if isinstance(candidate, ast.stmt) and any(inner is node for inner in ast.walk(candidate))),
                     node)
    line = getattr(node, "lineno", getattr(statement, "lineno", 0))
    if operator == "swap_await_order":
        assert parent is not None
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
    return ast.unparse(ast.fix_missing_locations(tree)), line, shown


def mutants_of(file: str, source: str, scope: str) -> list[Mutant]:
    """Every mutant of one file's source, in a fixed order, the equivalent ones marked with their reason."""
    lines = source.splitlines()
    unchanged = ast.unparse(ast.parse(source))
    seen: dict[str, str] = {}
    found = []
    for number, (index, operator) in enumerate(sites(source, scope), 1):
        mutated, line, shown = mutate(source, index, operator)
        mutant = Mutant(id=f"{file}#{number}", file=file, line=line, operator=operator,
                        original=lines[line - 1].strip() if 0 < line <= len(lines) else "", mutated=shown,
                        source=mutated)
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


def sample(candidates: list[Mutant], size: int | None, seed: int) -> list[Mutant]:
    """``size`` of the candidates drawn with ``seed`` (the same seed, the same mutants), in their order."""
    if size is None or size >= len(candidates):
        return candidates
    picked = set(random.Random(seed).sample(range(len(candidates)), size))
    return [mutant for position, mutant in enumerate(candidates) if position in picked]
