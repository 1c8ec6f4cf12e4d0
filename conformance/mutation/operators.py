"""Classic mutation operators, each a pure function from an AST node to its mutated replacement.

An operator's ``applies(node, parent)`` says whether it can mutate a node; ``mutate(node)`` returns the
replacement node (the node is a private copy, it may be changed in place). Operators: negate a condition,
swap a comparison or boolean operator, remove a call/await statement, replace a return value with None,
swap two consecutive awaits, reverse an iteration, change a constant.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass

COMPARE_SWAP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In,
}


@dataclass(frozen=True)
class Operator:
    """One mutation operator: its name, where it applies and what it makes of a node."""

    name: str
    applies: Callable[[ast.AST, ast.AST | None], bool]
    mutate: Callable[[ast.AST], ast.AST]


def _is_condition(node: ast.AST, parent: ast.AST | None) -> bool:
    """An if/while/assert test; not a single comparison, whose negation is swap_compare's mutant."""
    single_compare = isinstance(node, ast.Compare) and len(node.ops) == 1
    is_test = isinstance(parent, ast.If | ast.While | ast.IfExp | ast.Assert) and node is parent.test
    return is_test and not single_compare


def _negate(node: ast.AST) -> ast.AST:
    assert isinstance(node, ast.expr)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return node.operand
    return ast.UnaryOp(op=ast.Not(), operand=node)


def _swap_compare(node: ast.AST) -> ast.AST:
    assert isinstance(node, ast.Compare)
    node.ops = [COMPARE_SWAP[type(node.ops[0])](), *node.ops[1:]]
    return node


def _swap_boolop(node: ast.AST) -> ast.AST:
    assert isinstance(node, ast.BoolOp)
    node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    return node


def _is_call_statement(node: ast.AST, parent: ast.AST | None) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Call | ast.Await)


def _remove(node: ast.AST) -> ast.AST:
    return ast.Pass()


def _is_value_return(node: ast.AST, parent: ast.AST | None) -> bool:
    return isinstance(node, ast.Return) and node.value is not None and not (
        isinstance(node.value, ast.Constant) and node.value.value is None)


def _return_none(node: ast.AST) -> ast.AST:
    assert isinstance(node, ast.Return)
    node.value = ast.Constant(value=None)
    return node


SIMPLE = ast.Expr | ast.Assign | ast.AnnAssign | ast.AugAssign | ast.Return


def _awaits(node: ast.AST) -> bool:
    """A simple statement (no block, no definition) that awaits."""
    return isinstance(node, SIMPLE) and any(isinstance(inner, ast.Await) for inner in ast.walk(node))


def _is_await_pair(node: ast.AST, parent: ast.AST | None) -> bool:
    """The first of two consecutive statements of a block that both await (the generator swaps them)."""
    return _awaits(node) and _next_sibling(node, parent) is not None


def _next_sibling(node: ast.AST, parent: ast.AST | None) -> ast.stmt | None:
    if parent is None:
        return None
    for field in ("body", "orelse", "finalbody"):
        block = getattr(parent, field, None)
        if isinstance(block, list) and node in block:
            index = block.index(node)
            following = block[index + 1] if index + 1 < len(block) else None
            return following if following is not None and _awaits(following) else None
    return None


def _is_for(node: ast.AST, parent: ast.AST | None) -> bool:
    return isinstance(node, ast.For)


def _reverse(node: ast.AST) -> ast.AST:
    assert isinstance(node, ast.For)
    listed = ast.Call(func=ast.Name(id="list", ctx=ast.Load()), args=[node.iter], keywords=[])
    node.iter = ast.Call(func=ast.Name(id="reversed", ctx=ast.Load()), args=[listed], keywords=[])
    return node


def _is_mutable_constant(node: ast.AST, parent: ast.AST | None) -> bool:
    """Booleans, integers, and strings that are data (a dict's key or value, a comparison's operand)."""
    if not isinstance(node, ast.Constant):
        return False
    if isinstance(node.value, bool | int):
        return True
    return isinstance(node.value, str) and isinstance(parent, ast.Dict | ast.Compare)


def _change_constant(node: ast.AST) -> ast.AST:
    assert isinstance(node, ast.Constant)
    value = node.value
    if isinstance(value, bool):
        return ast.Constant(value=not value)
    if isinstance(value, int):
        return ast.Constant(value=value + 1)
    return ast.Constant(value=f"XX{value}XX")


# swap_await_order is applied by the generator (it needs the parent block); its mutate is the identity.
OPERATORS: tuple[Operator, ...] = (
    Operator("negate_condition", _is_condition, _negate),
    Operator("swap_compare", lambda node, parent: isinstance(node, ast.Compare), _swap_compare),
    Operator("swap_boolop", lambda node, parent: isinstance(node, ast.BoolOp), _swap_boolop),
    Operator("remove_call", _is_call_statement, _remove),
    Operator("return_none", _is_value_return, _return_none),
    Operator("swap_await_order", _is_await_pair, lambda node: node),
    Operator("reverse_iteration", _is_for, _reverse),
    Operator("change_constant", _is_mutable_constant, _change_constant),
)
BY_NAME = {operator.name: operator for operator in OPERATORS}


def swap_with_next(parent: ast.AST, node: ast.stmt) -> None:
    """Swap ``node`` with the statement after it in its block of ``parent`` (swap_await_order)."""
    for field in ("body", "orelse", "finalbody"):
        block = getattr(parent, field, None)
        if isinstance(block, list) and node in block:
            index = block.index(node)
            block[index], block[index + 1] = block[index + 1], block[index]
            return
    raise ValueError("swap_await_order: the statement is not in a block of its parent")
