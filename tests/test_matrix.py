"""The version matrix: building it from reports, rendering it, and the tox environments it runs."""

from __future__ import annotations

import configparser
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from bgtasks_conformance import matrix as m
from bgtasks_conformance.matrix import NO_REPORT, build_matrix, render_html, render_markdown

LINK = "https://github.com/encode/starlette/pull/2194"
REASON = "Starlette < 0.29 holds the response (starlette <0.29)"
DECLARED = f"{REASON} <{LINK}>"


def record(rid: str, outcome: str, *, level: str = "MUST", observed: dict[str, Any] | None = None,
           details: list[str] | None = None) -> dict[str, Any]:
    return {"id": rid, "area": rid.split("-")[0].lower(), "level": level, "sentence": f"sentence of {rid}",
            "outcome": outcome, "tests": [], "observed": observed or {}, "details": details or []}


def report(fastapi: str, starlette: str, *records: dict[str, Any]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for rec in records:
        counts[rec["outcome"]] = counts.get(rec["outcome"], 0) + 1
    return {"schema": 1, "summary": counts, "requirements": list(records),
            "header": {"target": "bgtasks_conformance.sample_app:create_app", "suite_commit": "unknown",
                       "versions": {"fastapi": fastapi, "starlette": starlette, "pydantic": "2.5.3"}}}


OLD = report("0.105.0", "0.27.0",
             record("DEPS-003", "passed", observed={"era": "after-tasks"}),
             record("POST-006", "expected-failure", details=[DECLARED, DECLARED]),
             record("SYNC-008", "informational", level="MAY"))
NEW = report("0.165.0", "1.10.0",
             record("DEPS-003", "passed", observed={"era": "after-tasks"}),
             record("POST-006", "passed"),
             record("SYNC-008", "informational", level="MAY"))


def test_rows_are_requirements_and_columns_environments_in_order() -> None:
    built = build_matrix({"matrix-newest": NEW, "matrix-fastapi0105": OLD})
    assert [c.env for c in built.columns] == ["matrix-newest", "matrix-fastapi0105"]
    assert [row.id for row in built.rows] == ["DEPS-003", "POST-006", "SYNC-008"]
    assert built.columns[1].version_line() == "fastapi 0.105.0 · starlette 0.27.0 · pydantic 2.5.3"
    assert built.columns[1].era == m.ENVS["matrix-fastapi0105"]


def test_an_expected_failure_cell_carries_its_reason_and_link() -> None:
    cell = build_matrix({"a": OLD}).rows[1].cells["a"]
    assert (cell.outcome, cell.declared, cell.link) == ("expected-failure", REASON, LINK)
    assert not cell.failing


def test_declared_failures_and_informational_results_keep_the_matrix_green() -> None:
    assert build_matrix({"a": OLD, "b": NEW}).ok


@pytest.mark.parametrize("outcome", ["failed", "target-error", "harness-error"])
def test_a_failing_requirement_fails_its_environment(outcome: str) -> None:
    broken = report("0.117.1", "0.48.0", record("POST-006", outcome))
    built = build_matrix({"good": NEW, "broken": broken})
    assert built.failing_envs() == ["broken"]
    assert not built.ok


def test_an_environment_without_a_report_fails_and_shows_why() -> None:
    built = build_matrix({"matrix-newest": NEW, "matrix-fastapi0117": None})
    assert built.failing_envs() == ["matrix-fastapi0117"]
    assert {row.cells["matrix-fastapi0117"].outcome for row in built.rows} == {NO_REPORT}
    assert "no report" in render_markdown(built)


def test_observed_values_that_differ_between_environments_are_listed() -> None:
    newer = report("0.117.1", "0.48.0", record("DEPS-003", "passed", observed={"era": "before-response"}))
    built = build_matrix({"a": OLD, "b": newer})
    assert built.rows[0].observed_diff == {"era": {"a": "after-tasks", "b": "before-response"}}
    text = render_markdown(built)
    assert '**DEPS-003** `era`: a `"after-tasks"` · b `"before-response"`' in text


def test_a_column_that_observed_nothing_is_no_difference() -> None:
    skipped = report("-", "0.20.4", record("DEPS-003", "skipped"))  # the Starlette-only app: no dependencies
    newer = report("0.117.1", "0.48.0", record("DEPS-003", "passed", observed={"era": "before-response"}))
    assert build_matrix({"s": skipped, "a": OLD, "b": NEW}).rows[0].observed_diff == {}
    built = build_matrix({"s": skipped, "a": OLD, "b": newer})
    assert built.rows[0].observed_diff == {"era": {"a": "after-tasks", "b": "before-response"}}
    marks = re.findall(r'data-outcome="passed">([^<]*)<', render_html(built))
    assert marks == ["ok", "ok*"], "the mark is against the first column that observed it"


def test_columns_that_run_other_targets_are_named_with_theirs() -> None:
    starlette_only = report("-", "0.20.4", record("POST-006", "passed"))
    starlette_only["header"]["target"] = "bgtasks_conformance.starlette_app:create_app"
    text = render_markdown(build_matrix({"matrix-s": starlette_only, "matrix-a": OLD, "matrix-b": NEW}))
    assert ("targets `bgtasks_conformance.starlette_app:create_app` (s); "
            "`bgtasks_conformance.sample_app:create_app` (a, b)") in text
    assert "targets" not in render_markdown(build_matrix({"matrix-a": OLD, "matrix-b": NEW}))


def test_an_unexpected_pass_is_marked() -> None:
    xpass = report("0.165.0", "1.10.0",
                   record("POST-006", "passed", details=[f"unexpected pass: {DECLARED}"]))
    cell = build_matrix({"a": xpass}).rows[0].cells["a"]
    assert cell.unexpected_pass
    assert "unexpected" in render_markdown(build_matrix({"a": xpass}))


def test_markdown_has_a_version_header_and_one_row_per_requirement() -> None:
    built = build_matrix({"matrix-fastapi0105": OLD, "matrix-newest": NEW}, wall_seconds=125, jobs=2)
    text = render_markdown(built)
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert table[0] == (
        "| requirement | level | **fastapi0105**<br>fastapi 0.105.0<br>starlette 0.27.0<br>pydantic 2.5.3 "
        "| **newest**<br>fastapi 0.165.0<br>starlette 1.10.0<br>pydantic 2.5.3 |")
    assert f"| expected-failure<br>{REASON} [encode/starlette#2194]({LINK})" in table[-2]
    assert table[-1] == "| SYNC-008 | MAY | informational | informational |"  # the word once, no mark before it
    assert "ran in 2 min 5 s with 2 parallel jobs" in text
    assert text.startswith("# ") and "OK: every environment meets every requirement" in text


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.refs: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        self.refs += [v or "" for k, v in attrs if k in ("src", "rel")]
        if tag == "a":
            self.links.append(values.get("href") or "")


def test_html_is_one_self_contained_page_with_the_declared_link() -> None:
    page = render_html(build_matrix({"matrix-fastapi0105": OLD, "matrix-newest": NEW}))
    parsed = _Collector()
    parsed.feed(page)
    assert parsed.refs == [] and parsed.tags.count("script") == 1 and "link" not in parsed.tags  # inline only
    assert parsed.links == [LINK]
    # two header rows, one row per area (3), one per requirement (3)
    assert parsed.tags.count("tr") == 2 + 3 + 3
    assert 'class="o expected-failure"' in page and "encode/starlette#2194" in page


def test_html_marks_need_no_emoji_font() -> None:
    page = render_html(build_matrix({"matrix-fastapi0105": OLD, "matrix-newest": NEW}))
    assert all(ord(char) < 0x2500 for char in page), "every character is in the common fonts' ranges"


def test_html_rows_are_ids_with_the_sentence_on_hover_and_differences_marked() -> None:
    page = render_html(build_matrix({"matrix-fastapi0105": OLD, "matrix-newest": NEW}))
    assert '<th class="req" title="sentence of POST-006">POST-006 <span class="lvl">MUST</span></th>' in page
    assert '<tr class="req-row" data-id="POST-006">' in page  # differs: expected-failure vs passed
    assert '<tr class="req-row same" data-id="DEPS-003">' in page
    assert "post · 1 requirements · 1 differ" in page
    assert 'id="view-diff" checked' in page


def test_html_escapes_what_the_reports_contain() -> None:
    nasty = report("0.165.0", "1.10.0", record("POST-001", "failed", observed={"x": "<script>"}))
    page = render_html(build_matrix({"a": nasty}))
    assert page.count("<script>") == 1 and "&lt;script&gt;" in page


def test_links_to_github_are_shortened() -> None:
    assert m.short_link(LINK) == "encode/starlette#2194"
    assert m.short_link("https://example.org/x") == "https://example.org/x"
    assert m.split_declared("no link here") == ("no link here", "")


def test_reports_are_loaded_per_environment_missing_or_broken_as_none(tmp_path: Path) -> None:
    (tmp_path / "matrix-newest.json").write_text('{"requirements": []}')
    (tmp_path / "matrix-fastapi0105.json").write_text("{not json")
    loaded = m.load_reports(tmp_path, ["matrix-newest", "matrix-fastapi0105", "matrix-fastapi0117"])
    assert loaded == {"matrix-newest": {"requirements": []},
                      "matrix-fastapi0105": None, "matrix-fastapi0117": None}


def test_tox_is_asked_for_the_environments_in_parallel() -> None:
    command = m.tox_command(["matrix-newest", "matrix-fastapi0105"], 3, recreate=True,
                            pytest_args=["-k", "POST"])
    tail = command[command.index("-p"):]
    assert tail == ["-p", "3", "--parallel-no-spinner", "-e", "matrix-newest,matrix-fastapi0105", "-r",
                    "--", "-k", "POST"]


def test_every_matrix_environment_is_defined_in_tox_ini_with_its_report_path() -> None:
    config = configparser.ConfigParser(interpolation=None)
    config.read(m.ROOT / "tox.ini")
    sections = [s for s in config.sections() if s.startswith("testenv:matrix-")]
    assert len(sections) == 1, sections
    factors = re.fullmatch(r"testenv:matrix-\{(.*)\}", sections[0]).group(1).split(",")  # type: ignore[union-attr]
    assert [f"matrix-{f}" for f in factors] == list(m.ENVS)
    assert f"{{env:{m.DIR_VARIABLE}:" in config[sections[0]]["commands"]


def test_unknown_environments_are_refused() -> None:
    assert m._envs("fastapi0105,matrix-newest") == ["matrix-fastapi0105", "matrix-newest"]
    with pytest.raises(Exception, match="unknown environments"):
        m._envs("fastapi0999")


def test_the_declaration_is_found_when_some_tests_of_the_requirement_passed() -> None:
    passed_too = f"unexpected pass: declared expected-failure: {DECLARED}"
    mixed = report("0.105.0", "0.27.0", record("ERR-001", "expected-failure", details=[passed_too, DECLARED]))
    cell = build_matrix({"a": mixed}).rows[0].cells["a"]
    assert (cell.declared, cell.link, cell.unexpected_pass) == (REASON, LINK, False)


def test_render_only_writes_both_pages_and_exits_by_the_verdict(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "matrix-newest.json").write_text(json.dumps(NEW))
    assert m.main(["--render-only", "--out", str(tmp_path), "--envs", "newest"]) == 0
    assert "OK:" in (tmp_path / "matrix.md").read_text()
    assert (tmp_path / "matrix.html").read_text().startswith("<!DOCTYPE html>")
    assert m.main(["--render-only", "--out", str(tmp_path), "--envs", "newest,fastapi0117"]) == 1
    assert "failing: matrix-fastapi0117" in capsys.readouterr().out


def test_bad_options_are_refused() -> None:
    with pytest.raises(SystemExit):
        m.main(["--jobs", "0", "--render-only"])
    with pytest.raises(SystemExit):
        m.main(["--envs", "fastapi0999", "--render-only"])


def test_the_runner_names_the_report_folder_and_keeps_the_output(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    command = [sys.executable, "-c", f"import os; print(os.environ[{m.DIR_VARIABLE!r}]); raise SystemExit(3)"]
    assert m.run_tox(command, tmp_path / "reports", tmp_path / "tox.log") == 3
    assert (tmp_path / "tox.log").read_text() == f"{tmp_path / 'reports'}\n"
    assert capsys.readouterr().out == f"{tmp_path / 'reports'}\n"


def test_a_markdown_cell_says_its_outcome_once_and_bold_when_it_fails() -> None:
    text = render_markdown(build_matrix({"matrix-a": report("0.165.0", "1.10.0", record("POST-001", "failed"),
                                                            record("POST-002", "passed"))}))
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in text.splitlines() if line.startswith("| POST")}
    assert rows["POST-001"] == "| POST-001 | MUST | **failed** |"
    assert rows["POST-002"] == "| POST-002 | MUST | passed |"
