"""The audit of a team's own app (``--bgtasks-app``), run as a user runs it: the command in a subprocess, its
reports read back. The app under audit is tests/audit_app: correct endpoints beside one per pitfall."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from fastapi import __version__ as fastapi_version
from packaging.version import Version
from starlette import background as sbg
from starlette import responses as sresponses

from bgtasks_conformance.audit.examples import ExamplesError, load
from bgtasks_conformance.audit.instrument import Recorder, instrumented
from bgtasks_conformance.observe.timeline import Timeline

ROOT = Path(__file__).resolve().parents[1]
APP = "tests.audit_app.main:app"
EXAMPLES = ROOT / "tests" / "audit_app" / "examples.toml"

# Each planted pitfall: the check that must flag it and words its message must hold (task, reason, fix, doc).
YIELD_DROPS = not Version("0.106") <= Version(fastapi_version) < Version("0.118")  # FACTS: DEPS-011
PLANTED = {
    "AUDIT-DROPPED[POST /items/{item_id}/publish]": ["write_audit_log", "replaces the injected BackgroundTasks",
                                                     "DEPS-006", "fastapi/issues/11215"],
    "AUDIT-DROPPED[POST /orders/{order_id}/cancel]": ["notify_cancellation", "error response (status 404",
                                                      "DEPS-008", "Fix: raise before adding tasks"],
    "AUDIT-ERRORS[POST /reports/{name}]": ["build_report raised ValueError", "ERR-002", "Fix:"],
    "AUDIT-BLOCKING[POST /thumbnails]": ["make_thumbnail blocked the event loop", "SYNC-006", "plain def"],
    "AUDIT-EARLY[POST /exports]": ["export_rows started before the response was complete", "POST-001"],
    "AUDIT-DETACHED[POST /webhooks]": ["deliver_webhook did not end within the app call", "POST-002"],
}
if YIELD_DROPS:
    PLANTED["AUDIT-DROPPED[POST /items/{item_id}/archive]"] = [
        "write_trail", "dependency audit_trail()", "after yield", "DEPS-011", "dependencies-with-yield"]
NOT_REACHED = "GET /admin/stats"


def audit(cwd: Path, *args: str, app: str = APP, pythonpath: Path = ROOT,
          python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    """``bgtasks-conformance --bgtasks-app APP ARGS`` in ``cwd``, as a user runs it."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run([python, "-m", "bgtasks_conformance", "--bgtasks-app", app, "-p", "no:xdist", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=300, check=False, env=env)


def records(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {record["id"]: record for record in report["requirements"]}


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    cwd = tmp_path_factory.mktemp("audit")
    done = audit(cwd, "--bgtasks-audit-examples", str(EXAMPLES), "--bgtasks-report", "out/report.json",
                 "--bgtasks-markdown", "out/report.md", "--bgtasks-junit", "out/report.xml", "-rs")
    return done, cwd


def test_every_planted_pitfall_is_flagged_on_its_endpoint_with_an_actionable_message(audited: Any) -> None:
    done, cwd = audited
    assert done.returncode == 1, done.stdout + done.stderr  # findings fail the run, as MUSTs of the spec do
    found = records(json.loads((cwd / "out" / "report.json").read_text()))
    for rid, words in PLANTED.items():
        assert found[rid]["outcome"] == "failed", (rid, found[rid])
        message = "\n".join(found[rid]["messages"])
        missing = [word for word in words if word not in message]
        assert not missing, f"{rid}: message lacks {missing}: {message}"


def test_no_correct_endpoint_is_flagged(audited: Any) -> None:
    _done, cwd = audited
    found = records(json.loads((cwd / "out" / "report.json").read_text()))
    flagged = sorted(rid for rid, record in found.items() if record["outcome"] == "failed")
    assert flagged == sorted(PLANTED), flagged
    correct = [rid for rid in found if rid not in PLANTED and not rid.endswith(f"[{NOT_REACHED}]")]
    assert correct and all(found[rid]["outcome"] == "passed" for rid in correct), \
        {rid: found[rid]["outcome"] for rid in correct}
    # the correct endpoints' tasks were seen and all ran: the audit watched them, it did not pass by default
    assert found["AUDIT-BLOCKING[POST /invoices]"]["observed"]["blocking_tasks"] == []  # a sync task's sleep
    orders = found["AUDIT-DROPPED[POST /orders]"]["observed"]
    assert orders["tasks_added"] == orders["tasks_ran"] > 0, orders
    if not YIELD_DROPS:
        archive = found["AUDIT-DROPPED[POST /items/{item_id}/archive]"]["observed"]
        assert archive["tasks_added"] == archive["tasks_ran"] > 0, archive


def test_an_endpoint_not_reached_is_listed_with_how_to_add_an_example(audited: Any) -> None:
    done, cwd = audited
    found = records(json.loads((cwd / "out" / "report.json").read_text()))
    for rid, record in found.items():
        if rid.endswith(f"[{NOT_REACHED}]"):
            assert record["outcome"] == "skipped", record
            assert "not reached: GET /admin/stats: all 3 requests got a client error (status 403)" in \
                record["details"][0]
            assert '[["GET /admin/stats"]]' in record["details"][0]
    assert "not reached: GET /admin/stats" in done.stdout


def test_the_reports_and_the_table_are_the_spec_s(audited: Any) -> None:
    done, cwd = audited
    assert "background-task conformance: requirements" in done.stdout
    assert "AUDIT-DROPPED[POST /items/{item_id}/publish]" in done.stdout
    assert "bgtasks target: tests.audit_app.main:app (from --bgtasks-app option (audit))" in done.stdout
    markdown = (cwd / "out" / "report.md").read_text()
    junit = (cwd / "out" / "report.xml").read_text()
    assert "AUDIT-BLOCKING[POST /thumbnails]" in markdown and "AUDIT-BLOCKING[POST /thumbnails]" in junit
    assert sorted(p.relative_to(cwd).as_posix() for p in cwd.rglob("*")) == \
        ["out", "out/report.json", "out/report.md", "out/report.xml"]  # nothing else written where it ran


def test_compare_shows_a_planted_change_between_two_audits(audited: Any, tmp_path: Path) -> None:
    """The fixed app audited again: compare lists the endpoint whose finding went away as improved."""
    _done, cwd = audited
    fixed = tmp_path / "fixedapp.py"
    # A fixed app: the publishing endpoint puts both tasks on the injected BackgroundTasks.
    fixed.write_text(textwrap.dedent("""
        from typing import Annotated
        from fastapi import BackgroundTasks, Depends
        from tests.audit_app import main

        app = main.create_app()
        app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", "") != "/items/{item_id}/publish"]

        @app.post("/items/{item_id}/publish")
        def publish_item(item_id: int, db: main.Db, auth: main.Auth, background_tasks: BackgroundTasks) -> dict:
            background_tasks.add_task(main.write_audit_log, f"published {item_id}")
            background_tasks.add_task(main.notify_subscribers, item_id)
            return {"published": item_id}
        """))
    after = audit(tmp_path, "--bgtasks-audit-examples", str(EXAMPLES), "--bgtasks-report", "after.json",
                  "-k", "publish", app="fixedapp:app", pythonpath=ROOT)
    assert after.returncode == 0, after.stdout + after.stderr
    compared = subprocess.run([sys.executable, "-m", "bgtasks_conformance.compare", str(cwd / "out" / "report.json"),
                               str(tmp_path / "after.json")], capture_output=True, text=True, timeout=60, check=False)
    assert "improved AUDIT-DROPPED[POST /items/{item_id}/publish] [MUST]: failed -> passed" in compared.stdout, \
        compared.stdout + compared.stderr


def test_the_instrumentation_is_restored_after_each_call() -> None:
    before = (sbg.BackgroundTask.__init__, sbg.BackgroundTask.__call__, sbg.BackgroundTasks.add_task)
    with instrumented(Recorder(Timeline(), {})):
        assert sbg.BackgroundTask.__call__ is not before[1]
        response = sresponses.Response(b"", background=sbg.BackgroundTask(print))
        assert response.background is not None
    assert (sbg.BackgroundTask.__init__, sbg.BackgroundTask.__call__, sbg.BackgroundTasks.add_task) == before
    assert "background" not in sresponses.Response.__dict__
    assert sresponses.Response(b"", background=None).background is None


@pytest.mark.parametrize(("text", "expected"), [
    ('[["FETCH /x"]]\n', 'name it "METHOD /path"'),
    ('[["POST /items/{item_id}"]]\njson = {}\n', "give the path parameters item_id"),
    ('[["POST /x"]]\nbody = "x"\n', "unknown keys ['body']"),
    ("[[", "not valid TOML"),
])
def test_a_bad_examples_file_gets_one_clear_message(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "examples.toml"
    path.write_text(text)
    with pytest.raises(ExamplesError, match=None) as raised:
        load(path)
    assert expected in str(raised.value) and str(path) in str(raised.value)


def test_bad_options_are_usage_errors_naming_the_fix(tmp_path: Path) -> None:
    unknown = tmp_path / "examples.toml"
    unknown.write_text('[["POST /nowhere"]]\n')
    done = audit(tmp_path, "--bgtasks-audit-examples", str(unknown))
    assert done.returncode == 4 and "no endpoint POST /nowhere; the app has" in done.stderr, done.stderr
    done = audit(tmp_path, app="tests.audit_app.main:nothing")
    assert done.returncode == 4 and "has no attribute 'nothing'" in done.stderr, done.stderr
    done = subprocess.run([sys.executable, "-m", "bgtasks_conformance", "--bgtasks-audit-lag", "0.2"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 4 and "--bgtasks-audit-lag configure the audit of your own app: add --bgtasks-app" in \
        done.stderr, done.stderr
    done = audit(tmp_path, "--bgtasks-expectations", str(unknown))
    assert done.returncode == 4 and "the audit (--bgtasks-app) takes none" in done.stderr, done.stderr
    done = audit(tmp_path, "--bgtasks-audit-lag", "soon")
    assert done.returncode == 4 and "--bgtasks-audit-lag 'soon': give the loop lag in seconds" in done.stderr


def test_a_plain_starlette_app_is_audited_through_its_routes(tmp_path: Path) -> None:
    (tmp_path / "plainapp.py").write_text(textwrap.dedent("""
        from starlette.applications import Starlette
        from starlette.background import BackgroundTask, BackgroundTasks
        from starlette.responses import JSONResponse
        from starlette.routing import Mount, Route

        def record(name):
            pass

        async def ok(request):
            tasks = BackgroundTasks()
            tasks.add_task(record, "ok")
            return JSONResponse({"ok": True}, background=tasks)

        async def forever():
            import asyncio
            await asyncio.Event().wait()

        async def hangs(request):
            return JSONResponse({"hangs": True}, background=BackgroundTask(forever))

        async def lost(request):
            tasks = BackgroundTasks()
            tasks.add_task(record, "lost")
            return JSONResponse({"lost": True}, background=BackgroundTask(record, "other"))

        def create_app():
            return Starlette(routes=[Route("/ok", ok, methods=["POST"]), Route("/lost", lost), Route("/hangs", hangs),
                                     Mount("/sub", Starlette())])
        """))
    done = audit(tmp_path, "--bgtasks-report", "r.json", "--bgtasks-wait-timeout", "1", app="plainapp:create_app",
                 pythonpath=tmp_path)
    found = records(json.loads((tmp_path / "r.json").read_text()))
    assert found["AUDIT-DROPPED[POST /ok]"]["outcome"] == "passed", done.stdout
    assert found["AUDIT-DROPPED[GET /lost]"]["outcome"] == "failed", done.stdout
    assert "background task record" in found["AUDIT-DROPPED[GET /lost]"]["messages"][0]
    hangs = found["AUDIT-DETACHED[GET /hangs]"]
    assert hangs["outcome"] == "failed" and "background task forever did not end within the app call: the app call " \
        "had not returned within the audit's wait timeout (1s" in hangs["messages"][0], hangs
    assert found["AUDIT-ERRORS[GET /hangs]"]["outcome"] == "passed"  # the audit's own cancellation is no error
    mounted = found["AUDIT-DROPPED[ANY /sub]"]
    assert mounted["outcome"] == "skipped" and "a mounted application (Starlette): audit it on its own" in \
        mounted["details"][0], mounted


@pytest.mark.skipif(not os.environ.get("BGTASKS_BISECT_REAL"),
                    reason="installs FastAPI 0.117.1 in a uv venv (set BGTASKS_BISECT_REAL=1; a minute, cold cache)")
def test_compare_shows_the_yield_dependency_change_between_fastapi_0_117_and_the_newest(
        audited: Any, tmp_path: Path) -> None:
    if shutil.which("uv") is None and not _has_uv_module():
        pytest.skip("uv is not installed")
    from bgtasks_conformance.release_envs import Setup

    cache = Path(os.environ.get("BGTASKS_CACHE", tmp_path / "cache"))
    python = Setup(package="fastapi", suite=ROOT, cache=cache).environment("0.117.1")
    old = audit(tmp_path, "--bgtasks-audit-examples", str(EXAMPLES), "--bgtasks-report", "old.json",
                python=str(python))
    assert (tmp_path / "old.json").is_file(), old.stdout + old.stderr
    _done, cwd = audited
    compared = subprocess.run([sys.executable, "-m", "bgtasks_conformance.compare", str(tmp_path / "old.json"),
                               str(cwd / "out" / "report.json")], capture_output=True, text=True, timeout=60,
                              check=False)
    assert "REGRESSION AUDIT-DROPPED[POST /items/{item_id}/archive] [MUST]: passed -> failed" in compared.stdout, \
        compared.stdout + compared.stderr


def _has_uv_module() -> bool:
    try:
        import uv  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True
