"""The version matrix as one compact page: a grid read at a glance.

Rows are requirement IDs (the sentence on hover), grouped by area with counts; columns are the
environments (their versions on hover and in a second header row). A cell is a short plain-text mark
on a colour, with the outcome, a declared reason, the tests that did not pass and what was observed
on hover. The "differences only" view comes first: a row shows there when its outcome is not the same
in every column, its observed behaviour differs, or a cell fails or passed against a declaration.
Nothing needs a special font (no emoji); no external assets; a few lines of script only count rows.
"""

from __future__ import annotations

import html
import json
from typing import Any

from bgtasks_conformance.matrix import (
    ABSENT,
    NO_REPORT,
    Cell,
    Matrix,
    Row,
    _run_line,
    _value,
    _verdict,
    short_link,
)

# Marks: plain ASCII, readable in any font.
MARKS = {"passed": "ok", "failed": "FAIL", "expected-failure": "xf", "non-strict": "S", "informational": "i",
         "skipped": "s", "untested": "-", "target-error": "E", "harness-error": "B", NO_REPORT: "!", ABSENT: "?"}
LEGEND = {"ok": "passed", "FAIL": "failed (a MUST)", "xf": "expected failure (declared upstream bug)",
          "S": "SHOULD not met", "i": "informational (a MAY that differs)", "s": "skipped", "-": "untested",
          "E": "target error", "B": "harness error", "!": "no report", "?": "not in this report",
          "+": "(after a mark) a declared test passed", "*": "(after a mark) observed behaviour differs from the "
          "first column that observed it (hover, or see below)"}

_CSS = """
body { font: 13px/1.35 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 1em;
       color: #1d1d1f; }
h1 { font-size: 1.2em; margin: 0 0 .3em; }
.verdict { padding: .35em .7em; border-radius: 4px; font-weight: 600; display: inline-block; }
.verdict.ok { background: #dff5e1; color: #135c1d; } .verdict.bad { background: #fde2e1; color: #8a1c13; }
.run { color: #555; margin: .4em 0 .6em; }
.views { margin: .4em 0; } .views label { margin-right: 1em; cursor: pointer; }
table.grid { border-collapse: collapse; }
.grid th, .grid td { border: 1px solid #e0e0e6; padding: 1px 4px; white-space: nowrap; }
.grid thead th { background: #f4f4f7; position: sticky; top: 0; z-index: 1; font-weight: 600; }
.grid thead tr.versions th { top: 1.6em; font-weight: normal; color: #555; font-size: .8em; }
.grid th.req { text-align: left; font-weight: 600; cursor: help; }
.grid th.req .lvl { font-weight: normal; color: #777; font-size: .8em; }
.grid tr.area th { text-align: left; background: #eef0f6; font-weight: 600; }
.grid td.o { text-align: center; font-family: ui-monospace, "DejaVu Sans Mono", monospace; min-width: 2.4em;
             cursor: help; }
.passed { background: #e9f7ea; color: #1b5e20; } .failed, .target-error, .harness-error, .no-report
{ background: #f8c9c4; color: #7f1010; font-weight: 700; }
.expected-failure { background: #fff1c6; color: #6b5200; } .non-strict { background: #ffe0b8; }
.informational { background: #e1ecfb; } .skipped, .untested, .absent { background: #f3f3f3; color: #888; }
td.unexpected { outline: 2px solid #b26a00; outline-offset: -2px; }
#view-diff:checked ~ table.grid tr.same { display: none; }
#view-diff:checked ~ table.grid tr.area.same-area { display: none; }
details { margin-top: .8em; } ul.diff { margin: .3em 0; padding-left: 1.2em; } code { font-size: .9em; }
.legend { color: #555; margin-top: .6em; } .legend code { background: #f3f3f3; padding: 0 .2em; }
"""

# Counts the rows the chosen view shows (after layout), for the line above the grid; #all opens the full view.
_SCRIPT = """
function bgtasksShown() {
  var rows = document.querySelectorAll('table.grid tbody tr.req-row');
  var shown = 0;
  rows.forEach(function (row) { if (row.getClientRects().length > 0) { shown += 1; } });
  var out = document.getElementById('shown');
  out.textContent = shown + ' of ' + rows.length;
  out.setAttribute('data-shown', String(shown));
}
if (location.hash === '#all') { document.getElementById('view-all').checked = true; }
document.querySelectorAll('input[name=view]').forEach(function (input) {
  input.addEventListener('change', bgtasksShown);
});
bgtasksShown();
"""


def _h(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _cell_title(env: str, cell: Cell) -> str:
    lines = [f"{env.removeprefix('matrix-')}: {cell.outcome}"]
    if cell.declared:
        lines.append(f"declared: {cell.declared}" + (f" <{cell.link}>" if cell.link else ""))
    if cell.unexpected_pass:
        lines.append("a test declared failing passed")
    for name, variant in cell.variants.items():
        lines.append(f"{name}: {variant.get('outcome')}" + (f"\n  {variant['message'].splitlines()[0]}"
                                                            if variant.get("message") else ""))
    if cell.observed:
        lines.append("observed: " + json.dumps(cell.observed, default=str, sort_keys=True))
    return "\n".join(lines)


def _cell(env: str, cell: Cell, observed_differs: bool = False) -> str:
    css = cell.outcome.replace(" ", "-") + (" unexpected" if cell.unexpected_pass else "")
    mark = MARKS.get(cell.outcome, "B") + ("+" if cell.unexpected_pass else "") + ("*" if observed_differs else "")
    return f'<td class="o {css}" title="{_h(_cell_title(env, cell))}" data-outcome="{_h(cell.outcome)}">{_h(mark)}</td>'


def _row(row: Row, envs: list[str]) -> str:
    same = "" if row.differs else " same"
    first = next(iter(row.observed_diff.values()), {})
    reference = next(iter(first.values()), None)  # the first observing column's value of the first differing key
    cells = "".join(_cell(env, row.cells[env], bool(first) and env in first and first[env] != reference)
                    for env in envs)
    return (f'<tr class="req-row{same}" data-id="{_h(row.id)}"><th class="req" title="{_h(row.sentence)}">'
            f'{_h(row.id)} <span class="lvl">{_h(row.level)}</span></th>{cells}</tr>')


def _areas(matrix: Matrix) -> dict[str, list[Row]]:
    areas: dict[str, list[Row]] = {}
    for row in matrix.rows:
        areas.setdefault(row.area or row.id.split("-")[0].lower(), []).append(row)
    return areas


def _observed_section(matrix: Matrix) -> str:
    items = "".join(
        f"<li><b>{_h(row.id)}</b> <code>{_h(key)}</code>: "
        + " · ".join(f"{_h(env.removeprefix('matrix-'))} <code>{_h(_value(v))}</code>" for env, v in values.items())
        + "</li>"
        for row in matrix.rows for key, values in row.observed_diff.items())
    if not items:
        return ""
    count = sum(len(row.observed_diff) for row in matrix.rows)
    return (f"<details><summary>Observed behaviour that differs ({count})</summary>"
            f'<ul class="diff">{items}</ul></details>')


def _declared_section(matrix: Matrix) -> str:
    """Each declared upstream bug once, with its link and the columns it applies to."""
    seen: dict[tuple[str, str], list[str]] = {}
    for row in matrix.rows:
        for env, cell in row.cells.items():
            if cell.declared:
                where = seen.setdefault((cell.declared, cell.link), [])
                label = f"{row.id} in {env.removeprefix('matrix-')}"
                if label not in where:
                    where.append(label)
    if not seen:
        return ""
    items = "".join(f'<li>{_h(reason)}' + (f' <a href="{_h(link)}">{_h(short_link(link))}</a>' if link else "")
                    + f': {_h(", ".join(where))}</li>' for (reason, link), where in seen.items())
    return f'<details><summary>Declared upstream bugs ({len(seen)})</summary><ul class="diff">{items}</ul></details>'


def render_page(matrix: Matrix) -> str:
    """One self-contained page (inline CSS and a few lines of script, no external assets)."""
    envs = [c.env for c in matrix.columns]
    labels = "".join(f'<th title="{_h(c.era)}&#10;{_h(c.version_line())}&#10;{_h(c.summary())}">{_h(c.label)}</th>'
                     for c in matrix.columns)
    versions = "".join(f'<th title="{_h(c.version_line())}">{_h(_short_versions(c.versions))}</th>'
                       for c in matrix.columns)
    body = []
    for area, rows in _areas(matrix).items():
        differing = sum(row.differs for row in rows)
        hidden = "" if differing else " same-area"
        body.append(f'<tr class="area{hidden}"><th colspan="{len(envs) + 1}">{_h(area)} · {len(rows)} requirements'
                    f' · {differing} differ</th></tr>')
        body += [_row(row, envs) for row in rows]
    differing = sum(row.differs for row in matrix.rows)
    legend = " · ".join(f"<code>{_h(mark)}</code> {_h(text)}" for mark, text in LEGEND.items())
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>Background-task conformance: version matrix</title>"
        f"<style>{_CSS}</style></head><body>"
        "<h1>Background-task conformance: version matrix</h1>"
        f'<div class="verdict {"ok" if matrix.ok else "bad"}">{"OK:" if matrix.ok else "NOT OK:"} '
        f"{_h(_verdict(matrix))}</div>"
        f'<div class="run">{_h(_run_line(matrix).replace("`", ""))}</div>'
        f'<input type="radio" name="view" id="view-diff" checked> <label for="view-diff">differences only '
        f"({differing})</label> "
        f'<input type="radio" name="view" id="view-all"> <label for="view-all">all requirements '
        f"({len(matrix.rows)})</label> "
        f'<span class="views">showing <span id="shown">{differing} of {len(matrix.rows)}</span></span>'
        f'<table class="grid"><thead><tr><th>requirement</th>{labels}</tr>'
        f'<tr class="versions"><th>fastapi / starlette</th>{versions}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
        f"{_declared_section(matrix)}{_observed_section(matrix)}"
        f'<p class="legend">{legend}. Hover a requirement for its sentence, a cell for what was seen.</p>'
        f"<script>{_SCRIPT}</script></body></html>\n"
    )


def _short_versions(versions: dict[str, str]) -> str:
    fastapi = versions.get("fastapi", "?")
    fastapi = "-" if fastapi == "not installed" else fastapi
    return f"{fastapi} / {versions.get('starlette', '?')}" if versions else "no report"
