"""The findings of one endpoint: each check reads the calls' observations and says what went wrong, where,
how to fix it and where the frameworks document it; ``None`` when the endpoint passes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bgtasks_conformance.audit.calls import Observation
from bgtasks_conformance.audit.checks_registry import FASTAPI_DOCS, MIDDLEWARE_DOCS, STARLETTE_DOCS, YIELD_DOCS
from bgtasks_conformance.observe.timeline import Event

REPLACED_ISSUE = "https://github.com/fastapi/fastapi/issues/11215"
ASYNC_DOCS = "https://fastapi.tiangolo.com/async/"


@dataclass
class Verdict:
    findings: list[str] = field(default_factory=list)
    observed: dict[str, Any] = field(default_factory=dict)


def _made(obs: Observation) -> dict[int, Event]:
    """Every task made in the request, by key, with where it was made (``task.added`` when it joined a collection)."""
    made = {e["task"]: e for e in obs.of("task.made")}
    made.update({e["task"]: e for e in obs.of("task.added")})
    return made


def _where(event: Event) -> str:
    if event.get("by") in ("endpoint", "dependency"):
        line = f", line {event['line']}" if event.get("line") else ""
        position = f", {event['position']}" if event.get("position") else ""
        return f"in {event['by']} {event['by_name']}(){line}{position}"
    return "outside the endpoint and its dependencies (middleware or framework code)"


def _drop_reason(obs: Observation, event: Event) -> tuple[str, str]:
    """(reason key, the sentence: why it was dropped and how to fix it)."""
    if event.get("position") == "after yield":
        return "after-yield", (
            f"it was added after the yield of the dependency {event['by_name']}(): with the default scope, "
            "FastAPI >= 0.118 runs that exit code after the response and after its background tasks, so a task "
            "added there never runs (spec DEPS-011). Fix: add the task before the yield, or do the work directly "
            "in the exit code; with FastAPI >= 0.121 Depends(..., scope=\"function\") runs the exit code before "
            f"the response, where added tasks still run. Docs: {YIELD_DOCS}")
    collection = event.get("collection")
    replaced = [e for e in obs.of("response.background") if e["setter"] == "app" and e["background"] is not None
                and e["background"] != collection]
    if collection is not None and replaced:
        return "replaced", (
            "the endpoint returned a Response with its own background=..., which replaces the injected "
            "BackgroundTasks: FastAPI attaches the injected tasks (the dependencies' too) only to a returned "
            "response whose background is None (spec DEPS-006, DEPS-007). Fix: add every task to the injected "
            "background_tasks and return the response without background=, or put all tasks on the response's "
            f"own BackgroundTasks. Docs: {FASTAPI_DOCS}; upstream: {REPLACED_ISSUE}")
    if obs.status is not None and obs.status >= 400:
        return "error-response", (
            f"the request ended in an error response (status {obs.status}, e.g. an HTTPException or a failed "
            "dependency) after the task was added; an error response carries no background, so the task never "
            "runs (spec DEPS-008, DEPS-009). Fix: raise before adding tasks, or, if the task must run on failure "
            "too, return the error as a normal response (JSONResponse(status_code=..., background=...)). "
            f"Docs: {FASTAPI_DOCS}")
    return "not-attached", (
        "it was never attached to a response that ran its tasks. Fix: add it to the request's injected "
        f"BackgroundTasks or pass it as the returned response's background. Docs: {FASTAPI_DOCS}")


def dropped(endpoint: str, observations: list[Observation], threshold: float) -> Verdict:
    verdict = Verdict()
    seen: dict[tuple[str, str], str] = {}
    added = ran = 0
    for obs in observations:
        made = _made(obs)
        started = {e["task"] for e in obs.of("task.start")}
        added += len(made)
        ran += len(started & set(made))
        if obs.timed_out or obs.of("task.error"):
            continue  # DETACHED and ERRORS report those requests' tasks
        for key, event in made.items():
            if key in started:
                continue
            reason, sentence = _drop_reason(obs, event)
            if (event["name"], reason) not in seen:
                seen[event["name"], reason] = sentence
                verdict.findings.append(f"{endpoint}: background task {event['name']} (added {_where(event)}) "
                                        f"never ran. Why: {sentence}. Seen with request {obs.request.describe()}.")
    verdict.observed = {"tasks_added": added, "tasks_ran": ran,
                        "dropped": sorted(f"{name}: {reason}" for name, reason in seen)}
    return verdict


def early(endpoint: str, observations: list[Observation], threshold: float) -> Verdict:
    verdict = Verdict()
    for obs in observations:
        final = next((e for e in obs.of("asgi.send") if e["type"] == "http.response.body" and not e["more_body"]
                      and "violation" not in e.data), None)
        for start in obs.of("task.start"):
            if final is None or start.seq < final.seq:
                when = "before the response was complete" if final is not None else "and the response never completed"
                verdict.findings.append(
                    f"{endpoint}: background task {start['name']} started {when} (task start at event [{start.seq}], "
                    f"final http.response.body at {f'[{final.seq}]' if final else 'none'}): the client waits for the "
                    "task, or gets a cut response (spec POST-001, POST-006). Fix: let the response send its final "
                    "body before it runs its background (a custom Response.__call__ must call the background after "
                    "the final send), and with BaseHTTPMiddleware upgrade Starlette or use pure ASGI middleware. "
                    f"Docs: {STARLETTE_DOCS}, {MIDDLEWARE_DOCS}. Seen with request {obs.request.describe()}.")
                break
    verdict.findings = sorted(set(verdict.findings), key=verdict.findings.index)[:3]
    verdict.observed = {"started_early": bool(verdict.findings)}
    return verdict


def errors(endpoint: str, observations: list[Observation], threshold: float) -> Verdict:
    verdict = Verdict()
    seen: set[tuple[str, bool]] = set()
    for obs in observations:
        if obs.timed_out:
            continue  # cancelled by the audit after its wait timeout: DETACHED reports it
        for failure in obs.of("task.error"):
            lost = obs.app_error is None
            if (failure["name"], lost) in seen:
                continue
            seen.add((failure["name"], lost))
            raised = f"{failure['error']}: {failure['message']}"
            if lost:
                verdict.findings.append(
                    f"{endpoint}: background task {failure['name']} raised {raised}, and the exception was lost: the "
                    "app call returned normally, so the server logged nothing (spec ERR-002). A BaseHTTPMiddleware "
                    "swallows task exceptions on older Starlette releases. Fix: upgrade Starlette or replace "
                    "BaseHTTPMiddleware with pure ASGI middleware, and catch and log errors inside the task. "
                    f"Docs: {MIDDLEWARE_DOCS}. Seen with request {obs.request.describe()}.")
            else:
                verdict.findings.append(
                    f"{endpoint}: background task {failure['name']} raised {raised} after the response was sent: "
                    "the client never learns of it, the server logs it, and the tasks added after it in the same "
                    "response do not run (spec ERR-002, ERR-005). Fix: catch and log (or retry) inside the task, or "
                    f"move fallible work to a job queue. Docs: {STARLETTE_DOCS}. "
                    f"Seen with request {obs.request.describe()}.")
    verdict.observed = {"task_errors": sorted(f"{name}: {'lost' if lost else 'raised'}" for name, lost in seen)}
    return verdict


def blocking(endpoint: str, observations: list[Observation], threshold: float) -> Verdict:
    verdict = Verdict()
    worst: dict[str, tuple[float, Observation]] = {}
    for obs in observations:
        names = {e["task"]: e["name"] for e in obs.of("task.start")}
        for key, seconds in obs.lag.items():
            name = names.get(key, "?")
            if seconds >= threshold and seconds > worst.get(name, (0.0, obs))[0]:
                worst[name] = (seconds, obs)
    for name, (seconds, obs) in sorted(worst.items()):
        verdict.findings.append(
            f"{endpoint}: async background task {name} blocked the event loop for {seconds:.3f}s (threshold "
            f"{threshold:g}s, --bgtasks-audit-lag): it makes a blocking call (time.sleep, requests, a sync database "
            "driver) instead of awaiting, so no other request is served meanwhile (spec SYNC-006). Fix: declare it "
            "with plain def (it then runs in the thread pool), await an async equivalent (asyncio.sleep, "
            f"httpx.AsyncClient), or wrap the call in anyio.to_thread.run_sync. Docs: {ASYNC_DOCS}. "
            f"Seen with request {obs.request.describe()}.")
    verdict.observed = {"blocking_tasks": sorted(worst)}
    return verdict


def detached(endpoint: str, observations: list[Observation], threshold: float) -> Verdict:
    verdict = Verdict()
    for obs in observations:
        timeout = next((e for e in obs.events if e.kind == "audit.timeout"), None)
        returned = None if timeout else next((e for e in obs.events if e.kind in ("app.return", "app.error")), None)
        ended = {e["task"]: e for e in obs.events if e.kind in ("task.end", "task.error")
                 and (timeout is None or e.seq < timeout.seq)}
        for start in obs.of("task.start"):
            end = ended.get(start["task"])
            if returned is None or end is None or end.seq > returned.seq:
                state = (f"had not returned within the audit's wait timeout ({timeout['seconds']:g}s, "
                         "--bgtasks-wait-timeout), so the audit cancelled it" if returned is None
                         else "returned while it was still running")
                verdict.findings.append(
                    f"{endpoint}: background task {start['name']} did not end within the app call: the app call "
                    f"{state} (spec POST-002). A task detached from the request (asyncio.create_task, a custom "
                    "response that does not await its background) is not awaited by the server at shutdown, and "
                    "its exceptions go unseen; a task that never ends holds the request forever. Fix: let the "
                    "response await its background, and bound the task's work with a timeout. "
                    f"Docs: {STARLETTE_DOCS}. Seen with request {obs.request.describe()}.")
                break
    verdict.findings = list(dict.fromkeys(verdict.findings))[:3]
    verdict.observed = {"detached": bool(verdict.findings)}
    return verdict


EVALUATE: dict[str, Callable[[str, list[Observation], float], Verdict]] = {
    "DROPPED": dropped, "EARLY": early, "ERRORS": errors, "BLOCKING": blocking, "DETACHED": detached,
}
