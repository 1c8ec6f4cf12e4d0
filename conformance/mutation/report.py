"""The mutation score: per file (killed / behaviour-changing), the survivors, the equivalents; JSON and table."""

from __future__ import annotations

from typing import Any

from bgtasks_conformance.mutation.generate import Mutant
from bgtasks_conformance.mutation.run import INVALID, KILLED, SURVIVED, TIMEOUT, Outcome


def summarize(files: list[str], ran: list[tuple[Mutant, Outcome]], equivalents: list[Mutant]) -> dict[str, Any]:
    """Counts per file. Behaviour-changing: run, valid and not equivalent; killed: a failing or timed-out spec."""
    per_file: dict[str, dict[str, Any]] = {}
    for file in files:
        outcomes = [outcome.status for mutant, outcome in ran if mutant.file == file]
        killed = sum(status in (KILLED, TIMEOUT) for status in outcomes)
        changing = killed + outcomes.count(SURVIVED)
        per_file[file] = {"killed": killed, "survived": outcomes.count(SURVIVED), "invalid": outcomes.count(INVALID),
                          "equivalent": sum(mutant.file == file for mutant in equivalents),
                          "behaviour_changing": changing, "score": round(killed / changing, 4) if changing else None}
    killed = sum(entry["killed"] for entry in per_file.values())
    changing = sum(entry["behaviour_changing"] for entry in per_file.values())
    return {"files": per_file, "killed": killed, "behaviour_changing": changing,
            "score": round(killed / changing, 4) if changing else None}


def to_json(summary: dict[str, Any], ran: list[tuple[Mutant, Outcome]], equivalents: list[Mutant],
            meta: dict[str, Any]) -> dict[str, Any]:
    """The report as JSON-able data: the run's settings, the scores, every mutant run and every equivalent."""
    def entry(mutant: Mutant) -> dict[str, Any]:
        return {"id": mutant.id, "file": mutant.file, "line": mutant.line, "operator": mutant.operator,
                "original": mutant.original, "mutated": mutant.mutated}
    return {**meta, **summary,
            "mutants": [{**entry(mutant), "status": outcome.status, "seconds": round(outcome.seconds, 2),
                         "detail": outcome.detail} for mutant, outcome in ran],
            "equivalent": [{**entry(mutant), "reason": mutant.equivalent} for mutant in equivalents]}


def table(summary: dict[str, Any], ran: list[tuple[Mutant, Outcome]], equivalents: list[Mutant]) -> str:
    """The terminal report: a score table per file, then the survivors, invalid and equivalent mutants."""
    def percent(score: float | None) -> str:
        return "-" if score is None else f"{score:.0%}"
    rows = [("file", "killed", "survived", "invalid", "equivalent", "score")]
    rows += [(file, str(entry["killed"]), str(entry["survived"]), str(entry["invalid"]), str(entry["equivalent"]),
              percent(entry["score"])) for file, entry in summary["files"].items()]
    rows.append(("total", str(summary["killed"]), str(summary["behaviour_changing"] - summary["killed"]),
                 "", "", percent(summary["score"])))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    for title, status in (("survivors", SURVIVED), ("invalid (do not import)", INVALID)):
        chosen = [(mutant, outcome) for mutant, outcome in ran if outcome.status == status]
        if chosen:
            lines += ["", f"{title}:"]
            lines += [f"  {mutant.file}:{mutant.line} {mutant.operator}: {mutant.original} -> {mutant.mutated}"
                      + (f"  ({outcome.detail})" if status == INVALID else "") for mutant, outcome in chosen]
    if equivalents:
        lines += ["", "equivalent (not run):"]
        lines += [f"  {mutant.file}:{mutant.line} {mutant.operator}: {mutant.equivalent}" for mutant in equivalents]
    return "\n".join(lines)
