"""Which code of the installed frameworks is mutated: the background-task handling, named function by function.

Each target file has a list of parts. A part is one function (``Class.method``, or a module function with
everything nested in it) and, optionally, markers: then only the statements of that function that mention a
marker are mutated (a simple statement whose source mentions it, or a compound statement whose header, its
``if``/``while`` test, ``for`` iterable or ``with`` items, mentions it, with its body but not its ``else``).
A part without markers is the whole function. The reason says why the part is background-task handling.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    """One function of a target file (or the statements of it that mention a marker), and why it is mutated."""

    function: str
    why: str
    markers: tuple[str, ...] = ()

    def describe(self) -> str:
        where = "whole" if not self.markers else "statements mentioning " + ", ".join(f"`{m}`" for m in self.markers)
        return f"{self.function} ({where}): {self.why}"


WHOLE_FILE = (Part("*", "the whole module is the task collection"),)

SELECTION: dict[str, tuple[Part, ...]] = {
    "starlette/background.py": WHOLE_FILE,
    "starlette/responses.py": (
        Part("Response.__call__", "sends the response, then runs its background (the order the spec pins)"),
        Part("StreamingResponse.__call__",
             "streams, watches for the client's disconnect, then runs its background (or loses it)"),
        Part("FileResponse.__call__", "sends the file and waits for a disconnect, then runs its background "
             "(the range parsing before is file serving, not task handling)", ("spec_version", "background")),
    ),
    "starlette/middleware/base.py": (
        Part("BaseHTTPMiddleware.__call__", "BaseHTTPMiddleware's hand-over: the inner app's send waits until the "
             "response is sent, dispatch's response is sent, then the response counts as sent",
             ("response_sent", "dispatch_func")),
        Part("_StreamingResponse.__call__", "the response call_next returns: its body, then its background"),
    ),
    "fastapi/background.py": WHOLE_FILE,
    "fastapi/routing.py": (
        Part("_build_response_args", "puts the request's BackgroundTasks on the response FastAPI builds"),
        Part("get_request_handler", "an endpoint's own Response keeps its background, else gets the request's tasks",
             ("background", "isinstance(raw_response, Response)")),
        Part("_FrontendRouteGroup.handle", "a route group's dependencies: their tasks go on the route's response",
             ("_solve_dependencies", "dependant.dependencies")),
    ),
    "fastapi/dependencies/utils.py": (
        Part("add_non_field_param_to_dependency", "recognizes a BackgroundTasks parameter",
             ("StarletteBackgroundTasks",)),
        Part("solve_dependencies", "creates one BackgroundTasks per request and shares it with every dependency",
             ("background_tasks",)),
    ),
}


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """The module's functions and methods by qualified name (``Class.method``); nested ones are inside them."""
    found: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            found.update({f"{node.name}.{item.name}": item for item in node.body
                          if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)})
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found[node.name] = node
    return found


def _header(node: ast.stmt) -> list[ast.AST]:
    """The header expressions of a compound statement (empty for a simple statement or a ``try``)."""
    if isinstance(node, ast.If | ast.While):
        return [node.test]
    if isinstance(node, ast.For | ast.AsyncFor):
        return [node.target, node.iter]
    if isinstance(node, ast.With | ast.AsyncWith):
        return list(node.items)
    return []


def _compound(node: ast.stmt) -> bool:
    return isinstance(node, ast.If | ast.While | ast.For | ast.AsyncFor | ast.With | ast.AsyncWith | ast.Try
                      | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Match)


def _mentions(source: str, nodes: list[ast.AST], markers: tuple[str, ...]) -> bool:
    text = " ".join(ast.get_source_segment(source, node) or "" for node in nodes)
    return any(marker in text for marker in markers)


def _marked(root: ast.AST, source: str, markers: tuple[str, ...]) -> set[int]:
    """ids of the nodes of the statements under ``root`` that mention a marker (see the module's docstring)."""
    chosen: set[int] = set()
    for node in ast.walk(root):
        if not isinstance(node, ast.stmt) or node is root:
            continue
        if not _compound(node):
            if _mentions(source, [node], markers):
                chosen.update(id(inner) for inner in ast.walk(node))
        elif _header(node) and _mentions(source, _header(node), markers):
            chosen.add(id(node))
            for inner in [*_header(node), *node.body]:  # type: ignore[attr-defined]
                chosen.update(id(deeper) for deeper in ast.walk(inner))
    return chosen


def scope(file: str, tree: ast.Module, source: str, parts: tuple[Part, ...]) -> dict[int, str]:
    """The nodes the parts cover, as ``{id(node): the part's function}``; an unknown function is an error."""
    if parts == WHOLE_FILE:
        return {id(node): _enclosing(tree, node) for node in ast.walk(tree)}
    functions = _functions(tree)
    covered: dict[int, str] = {}
    for part in parts:
        function = functions.get(part.function)
        if function is None:
            raise SystemExit(f"bgtasks mutation: {file} has no function {part.function} in this release; "
                             f"update the selection in bgtasks_conformance/mutation/selection.py "
                             f"(functions found: {', '.join(sorted(functions))})")
        ids = ({id(node) for node in ast.walk(function) if node is not function} if not part.markers
               else _marked(function, source, part.markers))
        covered.update(dict.fromkeys(ids, part.function))
    return covered


def _enclosing(tree: ast.Module, target: ast.AST) -> str:
    """The qualified name of the function a node of a whole-file part is in ("<module>" outside any)."""
    for name, function in _functions(tree).items():
        if any(inner is target for inner in ast.walk(function)):
            return name
    return "<module>"
