"""The terminal summary of a real run: a pass in part says how many variants were skipped and why, and the
skips are listed once per capability, with what it would enable and how to provide it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.suite_runs import run_suite

pytest.importorskip("litestar", reason="the litestar extra: pip install -e '.[litestar]'")
LITESTAR = "bgtasks_conformance.litestar_app:create_app"  # lacks base-http-middleware and dependencies


def test_partial_passes_and_skips_by_capability_are_in_the_terminal(tmp_path: Path) -> None:
    run = run_suite(tmp_path, "--bgtasks-target", LITESTAR, "-k", "ERR-001 or DEPS-001")
    assert run.exit_code == 0, run.output[-3000:]
    lines = run.output.splitlines()
    at = next(n for n, line in enumerate(lines) if line.startswith("ERR-001 "))
    assert lines[at].split()[:3] == ["ERR-001", "MUST", "PASSED"], lines[at]
    note = re.fullmatch(r"\s+\((\d+) of (\d+) variants, (\d+) skipped: target lacks capability "
                        r"'base-http-middleware': Litestar has no BaseHTTPMiddleware.*\)", lines[at + 1])
    assert note is not None, f"no note under ERR-001's line: {lines[at + 1]!r}"
    ran, total, skipped = map(int, note.groups())
    assert ran > 0 and skipped > 0 and ran + skipped == total
    assert next(line for line in lines if line.startswith("DEPS-001 ")).split()[2] == "SKIPPED"
    section = lines[next(n for n, line in enumerate(lines) if "bgtasks skipped, by capability" in line) + 1:]
    by_capability = {line.split(":")[0]: line for line in section if ": lacking (" in line}
    assert set(by_capability) == {"base-http-middleware", "dependencies"}, section[:5]
    assert "would enable ERR-001 (1 requirement, " in by_capability["base-http-middleware"]
    assert "would enable DEPS-001 (1 requirement, " in by_capability["dependencies"]
    assert by_capability["dependencies"].endswith("provide its routes (CONTRACT.md, capability 'dependencies') "
                                                  "and remove 'dependencies' from the factory's conformance_lacks")
    partial = next(r for r in run.report["requirements"] if r["id"] == "ERR-001")["partial"]
    assert partial == {"variants": total, "skipped": skipped, "reasons": partial["reasons"]}
