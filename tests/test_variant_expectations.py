"""Declarations that name test variants: the plugin covers only those, and reports declared variants that pass."""

from __future__ import annotations

import json

import pytest

from .conftest import RunPytest

# The reference passes POST-005 in every variant on the newest Starlette: a declaration of the plain variants is
# matched by passing tests, and must say so; the other variants stay plain passes.
DECLARES_PLAIN = '''
[[expect]]
requirement = "POST-005[plain-*]"
outcome = "expected-failure"
reason = "declared for the test"
'''


def test_a_variant_declaration_covers_only_its_variants_and_reports_their_passes(
    scratch: pytest.Pytester, run_pytest: RunPytest
) -> None:
    scratch.makefile(".toml", expectations=DECLARES_PLAIN)
    result = run_pytest("--pyargs", "bgtasks_conformance.spec", "-k", "POST-005", "--bgtasks-expectations",
                        "expectations.toml", "--bgtasks-report", "report.json")
    assert result.ret == 0, result.stdout.str()
    variants = {r["id"]: r for r in json.loads((scratch.path / "report.json").read_text())["requirements"]}
    post005 = variants["POST-005"]["variants"]
    declared = sorted(name for name, v in post005.items() if v.get("unexpected_pass"))
    assert declared == sorted(name for name in post005 if "[plain-" in name) and len(declared) == 3
    assert all(v["outcome"] == "passed" for v in post005.values())
    result.stdout.fnmatch_lines(["declared expected-failure, but passed: POST-005 "
                                 "test_slow_final_send_holds_back_the_tasks[[]plain-json[]]"])
