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

from bgtasks_conformance.mutation.equivalents import judge, same_bytecode
from bgtasks_conformance.mutation.generate import framework_root, mutants_of, round_trip, sample
from bgtasks_conformance.mutation.reach import OUTSIDE, Reach, measure
from bgtasks_conformance.mutation.run import (
    INVALID,
    KILLED,
    NOT_REACHED,
    SURVIVED,
    TIMEOUT,
    Suite,
    run_tests,
    spec_suite,
)
from bgtasks_conformance.mutation.selection import SELECTION, WHOLE_FILE, Part

STATUSES = {KILLED, SURVIVED, INVALID, TIMEOUT, NOT_REACHED}
WHOLE = WHOLE_FILE


def of(source: str, operator: str, scope: tuple[Part, ...] = WHOLE) -> list[str]:
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


def test_a_part_with_markers_mutates_only_the_statements_that_mention_them() -> None:
    source = textwrap.dedent('''
        class Response:
            def render(self, content):
                return content
            async def __call__(self, send):
                await send(1)
                if self.background is not None:
                    await self.background()
    ''')
    found = mutants_of("snippet.py", source, (Part("Response.__call__", "why", ("background",)),))
    assert {mutant.line for mutant in found} == {7, 8}, [(mutant.line, mutant.operator) for mutant in found]
    assert {mutant.function for mutant in found} == {"Response.__call__"}
    whole = mutants_of("snippet.py", source, (Part("Response.__call__", "why"),))
    assert {mutant.line for mutant in whole} == {6, 7, 8}


def test_a_selected_function_missing_from_the_release_is_named_with_those_found() -> None:
    with pytest.raises(SystemExit, match=r"snippet.py has no function Response.send .*Response.render"):
        mutants_of("snippet.py", "class Response:\n    def render(self):\n        return 1\n",
                   (Part("Response.send", "why"),))


def test_every_part_of_the_selection_exists_in_the_installed_release() -> None:
    for file, parts in SELECTION.items():
        source = (framework_root(file) / file).read_text(encoding="utf-8")
        found = mutants_of(file, source, parts)
        functions = {mutant.function for mutant in found}
        for part in parts:
            if part.function != "*":
                assert part.function in functions, f"{file}: {part.function} has no mutant"


def test_a_mutant_records_the_lines_a_test_must_run() -> None:
    source = "async def f(a):\n    if (a and\n            b):\n        go()\n    await x()\n    await y()\n"
    found = {(mutant.operator, mutant.line): mutant.lines for mutant in mutants_of("snippet.py", source, WHOLE)}
    assert found[("swap_boolop", 2)] == (2, 3)
    assert found[("remove_call", 4)] == (4,)
    assert found[("swap_await_order", 5)] == (5, 6)


def test_round_trip_maps_its_lines_back_to_the_original() -> None:
    source = "def f(a,\n      b):\n\n    # a comment\n    return (a +\n            b)\n"
    text, lines = round_trip(source)
    assert text == "def f(a, b):\n    return a + b"
    assert lines[1] == {1, 2} and lines[2] == {5, 6}


def test_a_mutant_with_the_originals_bytecode_is_judged_equivalent() -> None:
    assert same_bytecode("x = 1\n", "x = 1\n")
    assert not same_bytecode("x = 1\n", "x = 2\n")
    source = "def f(a):\n    return a\n"
    found = mutants_of("snippet.py", source, WHOLE)
    found[0].source = source  # as if the operator had changed nothing the compiler keeps
    judge(found, {"snippet.py": source})
    assert found[0].equivalent == "compiles to the same bytecode as the original"


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
    outcome = run_tests(spec_suite(), {file: broken}, [], timeout=60)
    assert outcome.status == INVALID, outcome
    assert "bgtasks_no_such_module" in outcome.detail


def test_reach_selects_the_passing_tests_of_a_line_fastest_first() -> None:
    reach = Reach(suite="s", lines={"f.py": {1: {"slow", "fast", "broken"}, 2: {OUTSIDE}, 3: {OUTSIDE, "slow"}}},
                  seconds={"slow": 2.0, "fast": 0.5, "broken": 0.1, "other": 0.2}, failed={"broken"})
    assert reach.tests_for("f.py", (1,)) == ["fast", "slow"]
    assert reach.tests_for("f.py", (2,)) == ["other"], "a line run outside tests needs one run: the fastest"
    assert reach.tests_for("f.py", (3,)) == ["slow"]
    assert reach.tests_for("f.py", (4,)) == []
    assert Reach.from_json(json.loads(json.dumps(reach.to_json()))) == reach



def test_a_mutant_on_a_line_coverage_missed_gets_the_tests_of_its_function() -> None:
    """Coverage can miss a line that runs (after an anyio task group's exit in a nested function, Python 3.11):
    such a mutant runs its innermost function's tests instead of staying "not reached" unrun."""
    from bgtasks_conformance.mutation.generate import Mutant, mutants_of
    from bgtasks_conformance.mutation.selection import Part

    source = "def outer():\n    def inner(x):\n        y = x + 1\n        return y\n    return inner\n"
    inner = [m for m in mutants_of("f.py", source, (Part("outer", "a test"),)) if m.line == 4]
    assert inner and all(m.enclosing == (2, 3, 4) for m in inner), [(m.line, m.enclosing) for m in inner]
    reach = Reach(suite="s", lines={"f.py": {2: {"a"}, 3: {"a", "b"}}}, seconds={"a": 1.0, "b": 0.5})

    def mutant(line: int, enclosing: tuple[int, ...]) -> Mutant:
        return Mutant(id="f.py#1", file="f.py", line=line, operator="return_none", original="", mutated="",
                      source="", lines=(line,), enclosing=enclosing)
    assert reach.tests_for_mutant(mutant(3, (2, 3, 4))) == (["b", "a"], False)
    assert reach.tests_for_mutant(mutant(4, (2, 3, 4))) == (["b", "a"], True)
    assert reach.tests_for_mutant(mutant(9, (8, 9))) == ([], False), "a function no test runs stays not reached"


FAKE = """\
def add(a, b):
    return a + b


def unused(flag):
    if flag:
        return 1
    return 2
"""
FAKE_TESTS = """\
import pytest

from bgtasks_fake.core import add


def test_add():
    assert add(1, 2) == 3


def test_weak():
    add(0, 0)


def test_guarded():
    if add(2, 2) != 4:
        pytest.skip("add() is not there: nothing to check")
"""


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Suite, Path]:
    """A tiny installed package (bgtasks_fake) and its own two tests, as a framework and its suite."""
    site = tmp_path / "site"
    (site / "bgtasks_fake").mkdir(parents=True)
    (site / "bgtasks_fake" / "__init__.py").write_text("", encoding="utf-8")
    (site / "bgtasks_fake" / "core.py").write_text(FAKE, encoding="utf-8")
    tests = tmp_path / "suite"
    tests.mkdir()
    (tests / "test_core.py").write_text(FAKE_TESTS, encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", str(site))
    return Suite(name="fake", python=sys.executable, args=(str(tests),), cwd=tests), tests / "test_core.py"


def test_a_fake_framework_is_mapped_and_its_mutant_killed_only_by_a_selection_that_checks(
        fake: tuple[Suite, Path]) -> None:
    suite, test_file = fake
    file = "bgtasks_fake/core.py"
    reach = measure(suite, [file], timeout=120)
    add, weak = f"{test_file}::test_add", f"{test_file}::test_weak"
    guarded = f"{test_file}::test_guarded"
    assert reach.failed == set() and set(reach.seconds) == {add, weak, guarded}
    found = mutants_of(file, FAKE, WHOLE)
    returns_none = next(mutant for mutant in found if mutant.operator == "return_none" and mutant.line == 2)
    assert sorted(reach.tests_for(file, returns_none.lines)) == sorted([add, weak, guarded])
    unused = [mutant for mutant in found if mutant.function == "unused"]
    assert unused and all(reach.tests_for(file, mutant.lines) == [] for mutant in unused), "no test runs unused()"
    assert run_tests(suite, {file: returns_none.source}, [weak], timeout=120).status == SURVIVED
    killed = run_tests(suite, {file: returns_none.source}, [weak, add], timeout=120)
    assert killed.status == KILLED and "test_add" in killed.detail, killed
    untested = run_tests(suite, {file: returns_none.source}, [weak, guarded], timeout=120)
    assert untested.status == KILLED and "SKIPPED (untested under the mutant)" in untested.detail, untested
    assert "test_guarded: add() is not there" in untested.detail, untested
    assert (Path(framework_root(file)) / file).read_text(encoding="utf-8") == FAKE, "the package was written to"


def test_an_unknown_target_file_is_named_with_the_known_ones(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bgtasks_conformance.mutation", "--files", "starlette/nope.py"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "unknown target(s) starlette/nope.py" in result.stderr
    assert "starlette/background.py" in result.stderr


def _digest(files: list[str]) -> dict[str, str]:
    return {file: hashlib.sha256((framework_root(file) / file).read_bytes()).hexdigest() for file in files}


def test_the_command_scores_a_sample_of_starlettes_mutants_and_writes_json(tmp_path: Path) -> None:
    files = ["starlette/background.py", "fastapi/background.py"]
    before = _digest(files)
    report, table = tmp_path / "mutation.json", tmp_path / "mutation.md"
    result = subprocess.run(
        [sys.executable, "-m", "bgtasks_conformance.mutation", "--sample", "3", "--seed", "1", "--jobs", "2",
         "--files", *files, "--json", str(report), "--markdown", str(table)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "selection (bgtasks_conformance/mutation/selection.py):" in result.stdout
    assert "mapping which spec tests run which lines" in result.stdout
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["mutants_run"] == 3 and len(data["mutants"]) == 3
    assert data["sample"] == 3 and data["seed"] == 1 and data["suites"] == ["spec"]
    assert set(data["files"]) == set(files)
    outcomes = [mutant["outcomes"]["spec"] for mutant in data["mutants"]]
    assert all(outcome["status"] in STATUSES for outcome in outcomes)
    killed = sum(outcome["status"] in (KILLED, TIMEOUT) for outcome in outcomes)
    per_file = data["files"].values()
    assert sum(entry["spec"]["killed"] for entry in per_file) == killed
    for mutant in data["mutants"]:
        assert mutant["file"] in files and mutant["line"] > 0 and mutant["operator"] and mutant["function"]
        if mutant["outcomes"]["spec"]["status"] in (SURVIVED, NOT_REACHED):
            assert f"{mutant['file']}:{mutant['line']} {mutant['function']} {mutant['operator']}" in result.stdout
    markdown = table.read_text(encoding="utf-8")
    assert markdown.startswith("| file | mutants |") and "| `starlette/background.py` |" in markdown
    assert _digest(files) == before, "the installed framework was written to"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mutation.json", "mutation.md"]


def test_the_table_compares_the_spec_with_the_files_own_framework_suite() -> None:
    from bgtasks_conformance.mutation.generate import Mutant
    from bgtasks_conformance.mutation.report import markdown, summarize
    from bgtasks_conformance.mutation.run import Outcome

    def mutant(number: int, file: str = "starlette/x.py") -> Mutant:
        return Mutant(id=f"{file}#{number}", file=file, line=number, operator="remove_call", original="",
                      mutated="", source="", function="f")
    chosen = [mutant(1), mutant(2), mutant(3), mutant(4)]
    equivalent = mutant(5)
    equivalent.equivalent = "the same bytecode"
    spec = {"1": KILLED, "2": SURVIVED, "3": NOT_REACHED, "4": INVALID}
    own = {"1": KILLED, "2": KILLED, "3": SURVIVED, "4": INVALID}
    results = {name: {f"starlette/x.py#{number}": Outcome(status, 1.0) for number, status in statuses.items()}
               for name, statuses in (("spec", spec), ("starlette", own))}
    summary = summarize(["starlette/x.py"], chosen, [equivalent], results, {"starlette": ["starlette/x.py"]})
    entry = summary["files"]["starlette/x.py"]
    assert (entry["mutants"], entry["equivalent"], entry["invalid"], entry["behaviour_changing"]) == (5, 1, 1, 3)
    assert entry["spec"] == {"killed": 1, "not_reached": 1, "survived": 1}
    assert entry["starlette"]["killed"] == 2 and entry["both"] == 1 and entry["union"] == 2
    table = markdown(summary, ["spec", "starlette"])
    assert "| `starlette/x.py` | 5 | 1 | 1 | 3 | 1/3 (33%) | 2/3 (67%) | 1/3 (33%) | 2/3 (67%) |" in table, table


def test_the_options_name_an_unknown_framework_and_all_overrides_a_sample(
        capsys: pytest.CaptureFixture[str]) -> None:
    from bgtasks_conformance.mutation.__main__ import parse_args

    with pytest.raises(SystemExit) as exited:
        parse_args(["--against", "starlette,django"])
    assert exited.value.code == 2
    assert "unknown framework(s) django; choose among starlette, fastapi" in capsys.readouterr().err
    args = parse_args(["--sample", "4", "--all", "--against", "starlette, fastapi"])
    assert args.sample is None and args.frameworks == ["starlette", "fastapi"]


def test_at_keeps_the_mutants_of_one_line_and_names_a_bad_place(capsys: pytest.CaptureFixture[str]) -> None:
    from bgtasks_conformance.mutation.__main__ import parse_args

    args = parse_args(["--files", "starlette/background.py", "--at", "starlette/background.py:35"])
    assert args.places == {("starlette/background.py", 35)}
    with pytest.raises(SystemExit) as exited:
        parse_args(["--files", "starlette/background.py", "--at", "starlette/responses.py:285"])
    assert exited.value.code == 2
    assert "--at: expected FILE:LINE with FILE among starlette/background.py" in capsys.readouterr().err


def test_at_a_line_with_no_mutant_exits_2_with_the_reason(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bgtasks_conformance.mutation", "--files",
                             "starlette/background.py", "--at", "starlette/background.py:1"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--at: no mutant at starlette/background.py:1" in result.stderr


def test_the_closing_body_message_with_a_key_renamed_is_judged_equivalent_and_its_other_mutants_are_not() -> None:
    file = "starlette/middleware/base.py"
    source = (framework_root(file) / file).read_text(encoding="utf-8")
    found = [mutant for mutant in mutants_of(file, source, SELECTION[file])
             if mutant.original == 'await send({"type": "http.response.body", "body": b"", "more_body": False})']
    judge(found, {file: source})
    judged = {mutant.mutated: mutant.equivalent for mutant in found}
    renamed = {text: reason for text, reason in judged.items() if "'XXbodyXX'" in text or "'XXmore_bodyXX'" in text}
    assert len(renamed) == 2 and all(reason and "ASGI HTTP spec" in reason for reason in renamed.values()), judged
    others = {text: reason for text, reason in judged.items() if text not in renamed}
    assert others and all(reason is None for reason in others.values()), others
