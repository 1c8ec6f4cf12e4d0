"""The self-check's verdict and table, on hand-made runs (no subprocesses)."""

from __future__ import annotations

from conformance.registry import load_registry
from conformance.selfcheck import Broken, Run, judge, table


def run(name: str, caught: dict[str, str], exit_code: int = 1) -> Run:
    outcomes = {rid: "passed" for rid in load_registry()} | caught
    return Run(name, f"mod:{name}", exit_code, 1.5, outcomes, "output")


def test_a_passing_reference_and_catching_gallery_have_no_problems() -> None:
    every = {rid: "failed" for rid in load_registry()}
    gallery = [Broken("all", "mod:all", frozenset({"POST-001"}), "breaks everything")]
    assert judge(run("reference", {}, 0), gallery, {"all": run("all", every)}) == []


def test_every_kind_of_problem_is_named() -> None:
    gallery = [
        Broken("escapes", "mod:escapes", frozenset({"POST-001", "POST-002"}), "x"),
        Broken("passes", "mod:passes", frozenset({"POST-003"}), "y"),
        Broken("broken_run", "mod:broken_run", frozenset({"POST-004"}), "z"),
    ]
    runs = {
        "escapes": run("escapes", {"POST-001": "failed"}),
        "passes": run("passes", {}, 0),
        "broken_run": Run("broken_run", "mod:broken_run", 4, 0.5, {}, "ERROR: usage"),
    }
    problems = judge(run("reference", {"ERR-001": "failed"}, 1), gallery, runs)
    text = "\n".join(problems)
    assert "the reference mod:reference does not pass" in text and "ERR-001" in text
    assert "escapes escapes POST-002" in text
    assert "passes passes the whole suite" in text
    assert "broken_run: the suite did not run (exit 4)" in text
    assert "no broken implementation is caught by" in text


def test_the_table_shows_time_and_what_caught_each() -> None:
    gallery = [Broken("one", "mod:one", frozenset({"POST-001"}), "x"),
               Broken("two", "mod:two", frozenset(), "y")]
    runs = {"one": run("one", {"POST-001": "failed", "ARGS-001": "non-strict"}),
            "two": Run("two", "mod:two", 4, 0.2, {}, "")}
    lines = table(run("reference", {}, 0), gallery, runs).splitlines()
    assert lines[0].split() == ["implementation", "time", "caught", "by"]
    assert "ARGS-001, POST-001" in lines[2]
    assert "DID NOT RUN (exit 4)" in lines[3]
