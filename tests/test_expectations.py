"""The expectations-file grammar: what it accepts, what it refuses (with the entry named), what applies."""

from __future__ import annotations

from pathlib import Path

import pytest

from bgtasks_conformance.results import expectations
from bgtasks_conformance.results.expectations import ExpectationsError, for_requirement, parse, unmatched

GOOD = '''
[[expect]]
requirement = "POST-00?"
outcome = "expected-failure"
reason = "old middleware"
link = "https://example.invalid/1"
when = { starlette = "<0.29" }

[[expect]]
requirement = "DEPS-*"
outcome = "skip"
reason = "no dependency injection"
'''


def test_a_valid_file_parses_every_field() -> None:
    first, second = parse(GOOD)
    assert (first.requirement, first.outcome, first.link, dict(first.when)) == (
        "POST-00?", "expected-failure", "https://example.invalid/1", {"starlette": "<0.29"})
    assert first.matches("POST-006") and not first.matches("POST-010")
    assert second.matches("DEPS-003") and second.when == {}
    assert first.describe() == "old middleware (starlette <0.29) <https://example.invalid/1>"


@pytest.mark.parametrize(("text", "problem"), [
    ("[[expect]]\nrequirement = 1", "'requirement' is required"),
    ('[[expect]]\nrequirement = "A-001"\noutcome = "xfail"\nreason = "r"', "outcome is one of"),
    ('[[expect]]\nrequirement = "A-001"\noutcome = "skip"', "'reason' is required"),
    ('[[expect]]\nrequirement = "A-001"\noutcome = "skip"\nreason = "r"\ncolour = "red"', "unknown keys"),
    ('[[expect]]\nrequirement = "A-001"\noutcome = "skip"\nreason = "r"\nwhen = { fastapi = "newest" }',
     "is not a version range"),
    ('[[expect]]\nrequirement = "A-001"\noutcome = "skip"\nreason = "r"\nwhen = "fastapi<1"', "'when' maps"),
    ("[expect]\nrequirement = 'A-001'", "double brackets"),
    ("[other]\nx = 1", "unknown top-level keys"),
    ("not toml [", "not valid TOML"),
])
def test_a_bad_entry_is_refused_naming_it(text: str, problem: str) -> None:
    with pytest.raises(ExpectationsError, match=problem) as raised:
        parse(text, "mine.toml")
    assert str(raised.value).startswith("mine.toml")


def test_version_ranges_decide_what_applies() -> None:
    entries = parse('[[expect]]\nrequirement = "A-001"\noutcome = "skip"\nreason = "r"\nwhen = { pytest = ">=1" }\n'
                    '[[expect]]\nrequirement = "A-002"\noutcome = "skip"\nreason = "r"\nwhen = { pytest = "<1" }\n'
                    '[[expect]]\nrequirement = "A-003"\noutcome = "skip"\nreason = "r"\n'
                    'when = { no-such-distribution = ">=0" }\n')
    assert for_requirement(entries, "A-001") is entries[0]
    assert for_requirement(entries, "A-002") is None
    assert for_requirement(entries, "A-003") is None


def test_entries_that_match_nothing_are_found(tmp_path: Path) -> None:
    path = tmp_path / "e.toml"
    path.write_text(GOOD)
    entries = expectations.load(path)
    assert unmatched(entries, ["DEPS-001"]) == [entries[0]]
    with pytest.raises(ExpectationsError, match="does not exist"):
        expectations.load(tmp_path / "missing.toml")


def test_a_declared_failure_is_graded_expected_failure(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", expect='[[expect]]\nrequirement = "POST-001"\noutcome = "expected-failure"\n'
                      'reason = "declared"\n[[expect]]\nrequirement = "NOPE-*"\noutcome = "skip"\nreason = "r"\n')
    result = pytester.runpytest_subprocess(
        "--pyargs", "bgtasks_conformance.spec", "-p", "no:cacheprovider", "-k", "POST-001",
                                           "--bgtasks-expectations", "expect.toml")
    result.stdout.fnmatch_lines(["*POST-001*MUST*PASSED*", "*expectation matches no requirement*NOPE-*"])
    assert result.ret == 0
    strict = pytester.runpytest_subprocess(
        "--pyargs", "bgtasks_conformance.spec", "-p", "no:cacheprovider", "-k", "POST-001",
                                           "--bgtasks-expectations", "expect.toml", "--bgtasks-strict")
    assert strict.ret == pytest.ExitCode.USAGE_ERROR
    strict.stderr.fnmatch_lines(["*expectations that match no requirement*"])


VARIANTS = '''
[[expect]]
requirement = "POST-005[base-http-*]"
outcome = "expected-failure"
reason = "the middleware race"
'''


def test_a_declaration_can_name_variants_and_covers_only_those() -> None:
    [entry] = parse(VARIANTS)
    assert (entry.id_pattern, entry.variant_pattern) == ("POST-005", "base-http-*")
    assert entry.covers("POST-005", "base-http-json") and entry.covers("POST-005", "base-http-file")
    assert not entry.covers("POST-005", "plain-json") and not entry.covers("POST-006", "base-http-json")
    assert expectations.for_variant([entry], "POST-005", "base-http-stream") is entry
    assert expectations.for_variant([entry], "POST-005", "pure-asgi-json") is None
    assert for_requirement([entry], "POST-005") is None  # it does not cover the whole requirement
    assert unmatched([entry], ["POST-005"]) == []


def test_a_declaration_without_brackets_covers_every_variant() -> None:
    [entry] = parse(VARIANTS.replace("POST-005[base-http-*]", "POST-005"))
    assert entry.variant_pattern is None and entry.covers("POST-005", "plain-json") and entry.covers("POST-005", "")


@pytest.mark.parametrize("requirement", ["POST-005[base-http", "POST-005[]", "POST-005[a][b]", "POST-005[a]x"])
def test_a_malformed_variant_pattern_is_refused(requirement: str) -> None:
    with pytest.raises(ExpectationsError, match=r"ID\[PATTERN\]"):
        parse(VARIANTS.replace("POST-005[base-http-*]", requirement))


def test_the_sample_apps_declarations_name_their_variants() -> None:
    entries = expectations.load(Path(__file__).resolve().parents[1] / "sample_app" / "expectations.toml")
    post005 = [e for e in entries if e.id_pattern == "POST-005"]
    assert post005 and all(e.variant_pattern is not None for e in post005)
    assert not any(e.covers("POST-005", "plain-json") for e in post005), "a plain JSON response must pass everywhere"
