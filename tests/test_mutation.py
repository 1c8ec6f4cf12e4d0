"""The framework mutation score: its operators on small sources, its equivalents, and a real run of the command."""

from __future__ import annotations

import ast
import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bgtasks_conformance.mutation.generate import (
    BACKGROUND,
    WHOLE,
    framework_root,
    mutants_of,
    sample,
)
from bgtasks_conformance.mutation.run import INVALID, KILLED, SURVIVED, TIMEOUT, run_spec

STATUSES = {KILLED, SURVIVED, INVALID, TIMEOUT}


def of(source: str, operator: str, scope: str = WHOLE) -> list[str]:
    """The mutated sources one operator makes of a snippet, as unparsed text."""
    return [mutant.source for mutant in mutants_of("snippet.py", textwrap.dedent(source), scope)
            if mutant.operator == operator]


def norm(source: str) -> str:
    return ast.unparse(ast.parse(textwrap.dedent(source)))


def test_negate_condition_negates_a_test_but_leaves_a_single_comparison_to_swap_compare() -> None:
    assert of("if ready:\n    go()\n", "negate_condition") == [norm("if not ready:\n    go()\n")]
    assert of("while not done:\n    go()\n", "negate_condition") == [norm("while done:\n    go()\n")]
    assert of("if x is None:\n    go()\n", "negate_condition") == []


@pytest.mark.parametrize(("before", "after"), [
    ("x == 1", "x != 1"), ("x is None", "x is not None"), ("a in b", "a not in b"), ("a < b", "a >= b"),
    ("a > b", "a <= b"),
])
def test_swap_compare_swaps_the_operator(before: str, after: str) -> None:
    assert of(f"y = {before}\n", "swap_compare") == [norm(f"y = {after}\n")]


def test_swap_boolop_swaps_and_and_or() -> None:
    assert of("y = a and b\n", "swap_boolop") == [norm("y = a or b\n")]
    assert of("y = a or b\n", "swap_boolop") == [norm("y = a and b\n")]


def test_remove_call_removes_call_and_await_statements_only() -> None:
    source = "async def f():\n    x = g()\n    h()\n    await k()\n"
    assert of(source, "remove_call") == [norm("async def f():\n    x = g()\n    await k()\n"),
                                          norm("async def f():\n    x = g()\n    h()\n")]
    assert of("if ready:\n    go()\n", "remove_call") == [norm("if ready:\n    pass\n")]


def test_return_none_replaces_a_value_and_leaves_bare_and_none_returns() -> None:
    assert of("def f():\n    return x\n", "return_none") == [norm("def f():\n    return None\n")]
    assert of("def f():\n    return None\n", "return_none") == []
    assert of("def f():\n    return\n", "return_none") == []


def test_swap_await_order_swaps_two_consecutive_awaits() -> None:
    source = "async def f():\n    await a()\n    await b()\n    c()\n"
    assert of(source, "swap_await_order") == [norm("async def f():\n    await b()\n    await a()\n    c()\n")]


def test_reverse_iteration_reverses_a_for_loop() -> None:
    assert of("for t in tasks:\n    t()\n", "reverse_iteration") == [
        norm("for t in reversed(list(tasks)):\n    t()\n")]


def test_change_constant_changes_data_but_not_docstrings_messages_or_annotations() -> None:
    source = '''
        def f(flag: bool = True, n: int = 1) -> None:
            """A docstring."""
            raise ValueError("a message")
        m = {"type": "http.response.start"}
    '''
    assert of(source, "change_constant") == [
        norm(source.replace("= True", "= False")),
        norm(source.replace("= 1", "= 2")),
        norm(source.replace('{"type"', '{"XXtypeXX"')),
        norm(source.replace('"http.response.start"', '"XXhttp.response.startXX"')),
    ]


def test_the_background_scope_mutates_only_functions_that_mention_background() -> None:
    source = '''
        class Response:
            def render(self, content):
                return content
            async def __call__(self, send):
                if self.background is not None:
                    await self.background()
    '''
    found = mutants_of("snippet.py", textwrap.dedent(source), BACKGROUND)
    assert {mutant.line for mutant in found} == {6, 7}, [(mutant.line, mutant.operator) for mutant in found]


def test_unchanged_and_duplicate_mutants_are_equivalent_with_their_reason() -> None:
    source = "async def f():\n    await a()\n    await a()\n"
    found = mutants_of("snippet.py", source, WHOLE)
    reasons = {(mutant.operator, mutant.line): mutant.equivalent for mutant in found}
    assert reasons[("swap_await_order", 2)] == "the source is unchanged after unparse"
    first_removal = next(mutant for mutant in found if mutant.operator == "remove_call")
    assert reasons[("remove_call", 2)] is None
    assert reasons[("remove_call", 3)] == f"the source is identical to {first_removal.id}'s"


def test_a_sample_is_reproducible_by_its_seed() -> None:
    found = mutants_of("snippet.py", "if a and b:\n    x = c == 1\n    go()\n    y = [1, 2, 3]\n", WHOLE)
    assert len(found) > 5
    picked = [mutant.id for mutant in sample(found, 3, seed=1)]
    assert picked == [mutant.id for mutant in sample(found, 3, seed=1)]
    assert len(picked) == 3
    assert sample(found, None, seed=1) == found


def test_a_mutant_that_does_not_import_is_invalid_not_killed() -> None:
    file = "starlette/background.py"
    broken = (framework_root(file) / file).read_text(encoding="utf-8") + "\nimport bgtasks_no_such_module\n"
    outcome = run_spec({file: broken}, timeout=60)
    assert outcome.status == INVALID, outcome
    assert "bgtasks_no_such_module" in outcome.detail


def test_an_unknown_target_file_is_named_with_the_known_ones(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bgtasks_conformance.mutation", "--files", "starlette/nope.py"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "unknown target(s) starlette/nope.py" in result.stderr
    assert "starlette/background.py" in result.stderr


def _digest(files: list[str]) -> dict[str, str]:
    return {file: hashlib.sha256((framework_root(file) / file).read_bytes()).hexdigest() for file in files}


def test_the_command_scores_a_sample_of_starlettes_mutants_and_writes_json(tmp_path: Path) -> None:
    files = ["starlette/background.py", "starlette/responses.py", "starlette/middleware/base.py"]
    before = _digest(files)
    report = tmp_path / "mutation.json"
    result = subprocess.run(
        [sys.executable, "-m", "bgtasks_conformance.mutation", "--sample", "3", "--seed", "1", "--jobs", "1",
         "--files", *files, "--json", str(report)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "baseline passed" in result.stdout
    assert "score" in result.stdout and "total" in result.stdout
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["mutants_run"] == 3 and len(data["mutants"]) == 3
    assert data["sample"] == 3 and data["seed"] == 1
    assert set(data["files"]) == set(files)
    assert all(mutant["status"] in STATUSES for mutant in data["mutants"])
    killed = sum(mutant["status"] in (KILLED, TIMEOUT) for mutant in data["mutants"])
    survived = sum(mutant["status"] == SURVIVED for mutant in data["mutants"])
    assert data["killed"] == killed and data["behaviour_changing"] == killed + survived
    for mutant in data["mutants"]:
        assert mutant["file"] in files and mutant["line"] > 0 and mutant["operator"]
        if mutant["status"] == SURVIVED:
            assert f"{mutant['file']}:{mutant['line']} {mutant['operator']}" in result.stdout
    assert _digest(files) == before, "the installed framework was written to"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mutation.json"]
