"""The single-run HTML report (``--bgtasks-html PATH``): one self-contained page, no network.

A summary (counts per outcome, what was tested with what), then one row per requirement: its ID, level,
outcome, sentence and what was seen; buttons filter the rows by outcome. The filter is also the URL's
fragment (``report.html#failed,target-error``), so a link shows the same rows.
"""

from __future__ import annotations

import html
from typing import Any

from bgtasks_conformance.results.report import _ORDER, _seen, skips_by_capability

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } .meta { color: #555; }
.counts button { margin: 0 .3em .3em 0; padding: .2em .6em; border: 1px solid #999; border-radius: 4px;
  background: #f4f4f4; cursor: pointer; } .counts button[aria-pressed="true"] { background: #333; color: #fff; }
table { border-collapse: collapse; width: 100%; margin-top: 1em; }
th, td { border-bottom: 1px solid #ddd; padding: .3em .5em; text-align: left; vertical-align: top; }
td.msg { font-family: ui-monospace, monospace; font-size: 12px; white-space: pre-wrap; max-width: 60em; }
.o { font-weight: 600; white-space: nowrap; }
.passed .o { color: #1b5e20; } .failed .o, .target-error .o, .harness-error .o { color: #b71c1c; }
.non-strict .o, .informational .o { color: #8a6d00; } .skipped .o, .untested .o { color: #666; }
.expected-failure .o { color: #4a148c; }
tr[hidden] { display: none; }
"""

# The filter: buttons toggle outcomes; the fragment keeps the choice; "shown" counts the visible rows.
_JS = """
(function () {
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr.req"));
  var buttons = Array.prototype.slice.call(document.querySelectorAll("button[data-outcome]"));
  function chosen() {
    var hash = decodeURIComponent(location.hash.replace(/^#/, ""));
    return hash ? hash.split(",") : [];
  }
  function apply() {
    var wanted = chosen(), shown = 0;
    rows.forEach(function (row) {
      var visible = wanted.length === 0 || wanted.indexOf(row.dataset.outcome) >= 0;
      row.hidden = !visible;
      if (visible) { shown += 1; }
    });
    buttons.forEach(function (b) {
      b.setAttribute("aria-pressed", String(wanted.indexOf(b.dataset.outcome) >= 0));
    });
    var counter = document.getElementById("shown");
    counter.dataset.shown = String(shown);
    counter.textContent = shown + " of " + rows.length;
  }
  buttons.forEach(function (b) {
    b.addEventListener("click", function () {
      var wanted = chosen(), at = wanted.indexOf(b.dataset.outcome);
      if (at >= 0) { wanted.splice(at, 1); } else { wanted.push(b.dataset.outcome); }
      location.hash = wanted.join(",");
    });
  });
  document.getElementById("all").addEventListener("click", function () { location.hash = ""; });
  window.addEventListener("hashchange", apply);
  apply();
})();
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def render_html(report: dict[str, Any]) -> str:
    """The page for one run's JSON report (:func:`bgtasks_conformance.results.report.build_report`)."""
    header = report["header"]
    records = sorted(report["requirements"], key=_rank)
    counts = report["summary"]
    buttons = "".join(
        f'<button type="button" data-outcome="{_e(name)}" aria-pressed="false">{_e(name)} '
        f'<b class="n">{counts[name]}</b></button>'
        for name in _ORDER if counts.get(name))
    versions = ", ".join(f"{k} {v}" for k, v in (header.get("versions") or {}).items())
    mode = "strict: SHOULD and MAY count" if header.get("strict") else "SHOULD and MAY reported, not failing"
    rows = "\n".join(_row(record) for record in records)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Background-task conformance: {_e(header.get("target", "?"))}</title>
<style>{_CSS}</style></head>
<body>
<h1>Background-task conformance: <code>{_e(header.get("target", "?"))}</code></h1>
<p class="meta" id="summary">{_e(", ".join(f"{n} {name}" for name, n in sorted(counts.items())))}
({_e(mode)}; {_e(header.get("duration_seconds", "?"))} s; {_e(header.get("time", ""))})</p>
<p class="meta">{_e(versions)}</p>
<div class="counts">Filter by outcome: {buttons}<button type="button" id="all">all</button>
shown: <span id="shown" data-shown="{len(records)}">{len(records)} of {len(records)}</span></div>
<table><thead><tr><th>ID</th><th>level</th><th>outcome</th><th>requirement</th><th>what was seen</th></tr></thead>
<tbody>
{rows}
</tbody></table>
{_skips(report)}
<script>{_JS}</script>
</body></html>
"""


def _rank(record: dict[str, Any]) -> tuple[int, str]:
    outcome = record["outcome"]
    return (_ORDER.index(outcome) if outcome in _ORDER else 0, record["id"])


def _row(record: dict[str, Any]) -> str:
    outcome = record["outcome"]
    seen = "" if outcome in ("passed", "untested") else _seen(record, limit=None)
    partial = record.get("partial")
    if partial:
        seen = (f"{partial['variants'] - partial['skipped']} of {partial['variants']} variants, "
                f"{partial['skipped']} skipped: " + "; ".join(partial["reasons"]))
    return (f'<tr class="req {_e(outcome)}" data-id="{_e(record["id"])}" data-outcome="{_e(outcome)}">'
            f'<td>{_e(record["id"])}</td><td>{_e(record["level"])}</td><td class="o">{_e(outcome)}</td>'
            f'<td>{_e(record["sentence"])}</td><td class="msg">{_e(seen)}</td></tr>')


def _skips(report: dict[str, Any]) -> str:
    groups = skips_by_capability((r["id"], r.get("variants") or {}) for r in report["requirements"])
    if not groups:
        return ""
    items = "".join(
        f"<li><b>{_e(key)}</b>{' (capability lacking: ' + _e(g['why']) + ')' if g['capability'] else ''}: "
        f"{_e(', '.join(g['requirements']))}</li>"
        for key, g in sorted(groups.items()))
    return f'<details id="skips"><summary>Skipped tests, by capability or reason</summary><ul>{items}</ul></details>'
