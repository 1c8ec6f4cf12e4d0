"""The mutation score: per file and per suite (killed / behaviour-changing), survivors, equivalents; JSON, text
and Markdown.

Behaviour-changing: a mutant run (in the sample), not judged equivalent, that imports. Killed: a selected test
fails, or the run exceeds its time. A mutant that no test of a suite executes is not run: it survives that
suite, listed apart as "not reached". A run that could not judge (error) counts for neither.
"""

from __future__ import annotations

from typing import Any

from bgtasks_conformance.mutation.generate import Mutant
from bgtasks_conformance.mutation.run import ERROR, INVALID, KILLED, NOT_REACHED, SURVIVED, TIMEOUT, Outcome

SPEC = "spec"
NAMES = {"spec": "the spec", "starlette": "Starlette's tests", "fastapi": "FastAPI's tests"}

Results = dict[str, dict[str, Outcome]]  # suite -> mutant id -> outcome


def _killed(outcome: Outcome | None) -> bool:
    return outcome is not None and outcome.status in (KILLED, TIMEOUT)


def _percent(part: int, whole: int) -> str:
    return f"{part}/{whole} ({part / whole:.0%})" if whole else "-"


def summarize(files: list[str], chosen: list[Mutant], equivalents: list[Mutant], results: Results,
              owners: dict[str, list[str]]) -> dict[str, Any]:
    """Per file: mutants, equivalent, invalid, behaviour-changing, and per suite killed / not reached / survived;
    ``both`` and ``union`` combine the spec with the file's own framework suite (when it ran)."""
    spec = results[SPEC]
    per_file: dict[str, dict[str, Any]] = {}
    for file in files:
        mine = [mutant for mutant in chosen if mutant.file == file]
        invalid = [mutant for mutant in mine if spec[mutant.id].status == INVALID]
        errors = [mutant for mutant in mine if any(
            suite[mutant.id].status == ERROR for name, suite in results.items() if mutant.id in suite)]
        changing = [mutant for mutant in mine if mutant not in invalid and mutant not in errors]
        entry: dict[str, Any] = {"mutants": len(mine) + sum(mutant.file == file for mutant in equivalents),
                                 "equivalent": sum(mutant.file == file for mutant in equivalents),
                                 "invalid": len(invalid), "error": len(errors), "behaviour_changing": len(changing)}
        for name, suite in results.items():
            if name != SPEC and file not in owners.get(name, []):
                continue
            entry[name] = {"killed": sum(_killed(suite.get(mutant.id)) for mutant in changing),
                           "not_reached": sum(suite[mutant.id].status == NOT_REACHED for mutant in changing),
                           "survived": sum(suite[mutant.id].status == SURVIVED for mutant in changing)}
        own = next((name for name, owned in owners.items() if file in owned), None)
        if own is not None:
            entry["own_suite"] = own
            entry["both"] = sum(_killed(spec[m.id]) and _killed(results[own][m.id]) for m in changing)
            entry["union"] = sum(_killed(spec[m.id]) or _killed(results[own][m.id]) for m in changing)
        per_file[file] = entry
    return {"files": per_file}


def _rows(summary: dict[str, Any], suites: list[str]) -> list[list[str]]:
    header = ["file", "mutants", "equivalent", "invalid", "behaviour-changing",
              *(f"killed by {NAMES.get(name, name)}" for name in suites)]
    compare = len(suites) > 1
    if compare:
        header += ["by both", "by either"]
    rows = [header]
    totals: dict[str, int] = {}
    for file, entry in summary["files"].items():
        changing = entry["behaviour_changing"]
        row = [file, str(entry["mutants"]), str(entry["equivalent"]), str(entry["invalid"]), str(changing)]
        for name in suites:
            row.append(_percent(entry[name]["killed"], changing) if name in entry else "-")
            if name in entry:
                totals[name] = totals.get(name, 0) + entry[name]["killed"]
                totals[f"{name}:of"] = totals.get(f"{name}:of", 0) + changing
        if compare:
            row += [_percent(entry["both"], changing), _percent(entry["union"], changing)] if "union" in entry \
                else ["-", "-"]
        rows.append(row)
    files = summary["files"].values()
    total_changing = sum(entry["behaviour_changing"] for entry in files)
    total = ["total", str(sum(entry["mutants"] for entry in files)), str(sum(entry["equivalent"] for entry in files)),
             str(sum(entry["invalid"] for entry in files)), str(total_changing)]
    total += [_percent(totals.get(name, 0), totals.get(f"{name}:of", 0)) for name in suites]
    if compare:
        judged = [entry for entry in files if "union" in entry]
        of = sum(entry["behaviour_changing"] for entry in judged)
        total += [_percent(sum(entry["both"] for entry in judged), of),
                  _percent(sum(entry["union"] for entry in judged), of)]
    rows.append(total)
    return rows


def markdown(summary: dict[str, Any], suites: list[str]) -> str:
    """The per-file table as Markdown (the README's table)."""
    rows = _rows(summary, suites)
    lines = ["| " + " | ".join(f"`{cell}`" if index == 0 and "/" in cell else cell for index, cell in
                                enumerate(row)) + " |" for row in rows]
    lines.insert(1, "| " + " | ".join(["---"] + ["---:"] * (len(rows[0]) - 1)) + " |")
    return "\n".join(lines)


def table(summary: dict[str, Any], suites: list[str], chosen: list[Mutant], equivalents: list[Mutant],
          results: Results) -> str:
    """The terminal report: the table, then the spec's survivors (reached, then not reached), the mutants other
    suites kill and the spec does not, the invalid ones and the equivalent ones with their reasons."""
    rows = _rows(summary, suites)
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    spec = results[SPEC]

    def where(mutant: Mutant) -> str:
        return f"  {mutant.file}:{mutant.line} {mutant.function} {mutant.operator}: {mutant.original} -> " \
               f"{mutant.mutated}"

    sections = [
        ("survivors of the spec (its tests run the mutated line and pass)", SURVIVED),
        ("survivors of the spec, not reached (no spec test runs the mutated line)", NOT_REACHED),
        ("invalid (do not import)", INVALID),
        ("not judged (the run could not tell)", ERROR),
    ]
    for title, status in sections:
        picked = [mutant for mutant in chosen if spec[mutant.id].status == status]
        if picked:
            lines += ["", f"{title}:"]
            lines += [where(mutant) + (f"  ({spec[mutant.id].detail})" if status in (INVALID, ERROR) else "")
                      for mutant in picked]
    for name in suites[1:]:
        picked = [mutant for mutant in chosen if _killed(results[name].get(mutant.id))
                  and not _killed(spec[mutant.id])]
        if picked:
            lines += ["", f"killed by {NAMES.get(name, name)}, not by the spec:"]
            lines += [where(mutant) + f"  ({results[name][mutant.id].detail})" for mutant in picked]
    if equivalents:
        lines += ["", "equivalent (not run):"]
        lines += [where(mutant) + f"  [{mutant.equivalent}]" for mutant in equivalents]
    return "\n".join(lines)


def to_json(summary: dict[str, Any], chosen: list[Mutant], equivalents: list[Mutant], results: Results,
            meta: dict[str, Any]) -> dict[str, Any]:
    """The report as JSON-able data: the run's settings, the scores, every mutant's outcomes, every equivalent."""
    def entry(mutant: Mutant) -> dict[str, Any]:
        return {"id": mutant.id, "file": mutant.file, "line": mutant.line, "function": mutant.function,
                "operator": mutant.operator, "original": mutant.original, "mutated": mutant.mutated}
    return {**meta, **summary,
            "mutants": [{**entry(mutant), "outcomes": {
                name: {"status": suite[mutant.id].status, "seconds": round(suite[mutant.id].seconds, 2),
                       "tests": suite[mutant.id].tests, "detail": suite[mutant.id].detail}
                for name, suite in results.items() if mutant.id in suite}} for mutant in chosen],
            "equivalent": [{**entry(mutant), "reason": mutant.equivalent} for mutant in equivalents]}
