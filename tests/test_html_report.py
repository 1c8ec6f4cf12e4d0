"""The single-run HTML report (--bgtasks-html) of real runs, rendered by headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

from bgtasks_conformance.results.html import render_html
from tests.browser import dom, needs_chromium
from tests.suite_runs import Run


def shown(rendered: str) -> tuple[str, str, str]:
    found = re.search(r'id="shown" data-shown="(\d+)">(\d+) of (\d+)<', rendered)
    assert found is not None, f"the page's script did not count the rows; rendered DOM:\n{rendered[:2000]}"
    return found.group(1), found.group(2), found.group(3)


def rows(rendered: str) -> dict[str, str]:
    """Each requirement row's rendered HTML, by its ID."""
    return dict(re.findall(r'<tr class="req [^"]*" data-id="([A-Z]+-\d+)"[^>]*>(.*?)</tr>', rendered, re.S))


def test_the_page_stands_alone() -> None:
    report = {"header": {"target": "m:f"}, "summary": {"failed": 1}, "requirements": [
        {"id": "A-001", "area": "a", "level": "MUST", "sentence": "s", "outcome": "failed", "observed": {},
         "details": [], "messages": ["A-001 [MUST]: expected <script>alert(1)</script>; saw none"]}]}
    page = render_html(report)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(r'(src|href)="(https?:)?//', page), "the page loads nothing from the network"


@needs_chromium("the single-run report")
def test_a_green_run_shows_every_requirement_and_its_counts(green: Run, tmp_path: Path) -> None:
    report = green.report
    rendered = dom(green.html, tmp_path)
    total = str(len(report["requirements"]))
    assert shown(rendered) == (total, total, total)
    summary = re.search(r'<p class="meta" id="summary">(.*?)</p>', rendered, re.S)
    assert summary is not None and f"{report['summary']['passed']} passed" in summary.group(1)
    assert 'data-outcome="failed"' not in rendered.split("<tbody>")[1]
    assert f'data-outcome="passed" aria-pressed="false">passed <b class="n">{report["summary"]["passed"]}</b>' \
        in rendered


@needs_chromium("the single-run report")
def test_a_red_run_filtered_to_failures_shows_their_messages(red: Run, tmp_path: Path) -> None:
    report = red.report
    failed = {r["id"]: r for r in report["requirements"] if r["outcome"] == "failed"}
    assert failed, "the broken target's run failed no requirement"
    rendered = dom(red.html, tmp_path, url_suffix="#failed")
    assert shown(rendered) == (str(len(failed)), str(len(failed)), str(len(report["requirements"])))
    by_id = rows(rendered)
    hidden = set(re.findall(r'<tr class="req [^"]*" data-id="([A-Z]+-\d+)"[^>]*hidden', rendered))
    assert set(by_id) - hidden == set(failed), "only the failed requirements are shown under #failed"
    for rid, record in failed.items():
        message = record["messages"][0].split("\n")[0]
        assert message[:80].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in by_id[rid], \
            f"{rid}'s message is not on its row: {by_id[rid][:500]}"
    assert 'data-outcome="failed" aria-pressed="true"' in rendered  # the filter's button shows it is on
