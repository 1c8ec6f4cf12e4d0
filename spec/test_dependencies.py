"""Tasks added from dependencies: one BackgroundTasks per request, yield dependencies, lost tasks."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

import pytest

from bgtasks_conformance import MUST, Harness, ScenarioFailure, needs, requirement
from bgtasks_conformance.drive.asgi_driver import AsgiCall
from bgtasks_conformance.observe.events import (
    assert_before,
    assert_task_order,
    ended,
    final_body,
    is_app_exit,
    is_response_start,
    started,
    task_order,
)
from bgtasks_conformance.observe.timeline import Event, Timeline
from bgtasks_conformance.results.registry import REQUIREMENT_MARK
from bgtasks_conformance.results.versions import expected
from bgtasks_conformance.target.contract import (
    DEPENDENCIES,
    FRONTEND_HEADER_PATH,
    FRONTEND_PATH,
    FRONTEND_ROUTES,
    GROUP_PREFIX,
    SEEDS,
)

pytestmark = pytest.mark.anyio

FRONTEND_FILE = b"<p>frontend</p>\n"  # the static file of the frontend() route group (CONTRACT.md section 12)

Step = tuple[str, Callable[[Event], bool]]

# The participants of /deps/order, in resolution order (CONTRACT.md section 8).
RESOLUTION_ORDER = ("app", "router", "decorator", "annotated", "sub", "plain", "class", "endpoint")
ADDED_BY = "added-by."


@pytest.fixture
def era(request: pytest.FixtureRequest, observe: Callable[[str, Any], None],
        record_era: Callable[[str, Any], None]) -> dict[str, Any]:
    """The ``[[requirement.versions]]`` table of this test's requirement for the installed FastAPI.

    The behaviour it expects is observed; the version and the range it matched are recorded apart (``eras``), so
    that a FastAPI upgrade inside one era changes nothing a comparison reports.
    """
    rid = request.node.get_closest_marker(REQUIREMENT_MARK).args[0]
    table = expected(rid)
    observe("era", table["outcome"])
    record_era("fastapi", table)
    return table


def in_order(timeline: Timeline, *steps: Step) -> None:
    """Each step's first event happened, each before the next step's."""
    for (first_is, first), (then_is, then) in pairwise(steps):
        assert_before(timeline, first, then, first_is=first_is, then_is=then_is)


def dependency_exit(name: str) -> Step:
    return f"dependency {name!r} exiting", lambda e: e.kind == "dependency.exit" and e["dependency"] == name


def task_step(predicate: Callable[[str], Callable[[Event], bool]], task: str, what: str) -> Step:
    return f"task {task!r} {what}", predicate(task)


def added(timeline: Timeline) -> list[str]:
    return [e["task"] for e in timeline.select(lambda e: e.kind == "task.add")]


async def no_task_ran(harness: Harness, call: AsgiCall, *must_have_added: str) -> None:
    """Once the app call has returned: these tasks were added, and not one task started."""
    await call.finished()
    missing = [task for task in must_have_added if task not in added(harness.timeline)]
    assert not missing, (
        f"expected the route to add {missing}, saw no task.add of them; timeline:\n{harness.timeline.format()}")
    ran = task_order(harness.timeline)
    assert ran == [], f"expected no task to run, saw {ran} start; timeline:\n{harness.timeline.format()}"


async def check_exit_point(harness: Harness, call: AsgiCall, dependency: str, outcome: str) -> None:
    """The yield dependency exits where ``outcome`` says; the task sees its resource open or closed."""
    response, raised = await harness.complete(call)
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"
    assert response.status == 200, f"expected 200, got {response}"
    final: Step = ("the final body chunk", final_body(call.id))
    use_starts = task_step(started, "use_resource", "starting")
    if outcome == "after-tasks":
        in_order(harness.timeline, final, use_starts, task_step(ended, "use_resource", "ending"),
                 dependency_exit(dependency), ("the app call returning", lambda e: is_app_exit(e, call.id)))
    elif outcome == "before-response":
        in_order(harness.timeline, dependency_exit(dependency),
                 ("the response start", lambda e: is_response_start(e, call.id)), final, use_starts)
    else:
        raise AssertionError(f"unknown outcome {outcome!r} in spec/requirements/dependencies.toml")
    use = harness.timeline.first(lambda e: e.kind == "resource.use")
    assert use is not None, (
        f"expected use_resource to report a resource.use, saw none; timeline:\n{harness.timeline.format()}")
    assert use["closed"] is (outcome == "before-response"), (
        f"expected the resource {'closed' if outcome == 'before-response' else 'open'} inside the task, "
        f"saw it {'closed' if use['closed'] else 'open'}"
    )


@requirement("DEPS-001", MUST)
@needs(DEPENDENCIES)
async def test_one_background_tasks_object_per_request(harness: Harness) -> None:
    """Every dependency that declares BackgroundTasks (a sub-dependency, a plain, a class and an Annotated
    dependency, and those declared on the decorator, the router and the app) receives the same
    BackgroundTasks object as the endpoint."""
    call = harness.post("/deps/order", json={})
    response, raised = await harness.complete(call)
    assert raised is None and response.status == 200, f"expected 200 and a clean end, got {response}, {raised!r}"
    received = {}
    for event in harness.timeline.select(started()):
        who, tasks_id = event["args"]
        received[who] = tasks_id
    assert sorted(received) == sorted(RESOLUTION_ORDER), (
        f"expected tasks reported by {sorted(RESOLUTION_ORDER)}, saw {sorted(received)}")
    endpoint_object = response.json()["background_tasks"]
    others = {who: tasks_id for who, tasks_id in received.items() if tasks_id != endpoint_object}
    assert not others, (f"expected every dependency to receive the endpoint's BackgroundTasks (id {endpoint_object}), "
                        f"saw these receive another: {others}")


@requirement("DEPS-002", MUST)
@needs(DEPENDENCIES)
async def test_dependency_tasks_run_first_in_resolution_order(harness: Harness) -> None:
    """Tasks added by dependencies run before the endpoint's, in the order the dependencies were resolved:
    those declared on the app, the router and the decorator first, then the endpoint's parameters in
    declaration order, each sub-dependency before the dependency that needs it; none starts before the
    response is complete."""
    call = harness.post("/deps/order", json={})
    response, raised = await harness.complete(call)
    assert raised is None and response.status == 200, f"expected 200 and a clean end, got {response}, {raised!r}"
    ran = [task.removeprefix(ADDED_BY) for task in task_order(harness.timeline) if task.startswith(ADDED_BY)]
    assert ran == list(RESOLUTION_ORDER), f"expected the tasks to run in the order {list(RESOLUTION_ORDER)}, saw {ran}"
    assert_before(harness.timeline, final_body(call.id), started(), first_is="the final body chunk",
                  then_is="the first task's start")


@requirement("DEPS-003", MUST)
@needs(DEPENDENCIES)
async def test_yield_dependency_exit_point(harness: Harness, era: dict[str, Any]) -> None:
    """A dependency with yield runs its exit code where its FastAPI version puts it: after the response and
    after every background task, so that a resource it yields is still open inside a task, except in
    FastAPI 0.106 to 0.117, where it runs before the response is sent and the resource is already closed
    when the task runs."""
    call = harness.post("/deps/yield", json={})
    await check_exit_point(harness, call, "yield", era["outcome"])
    assert (await call.response()).json() == {"closed": False}, "the endpoint must see the resource open"


@requirement("DEPS-004", MUST)
@needs(DEPENDENCIES)
async def test_yield_dependency_exit_error(harness: Harness, era: dict[str, Any]) -> None:
    """When the exit code of a dependency with yield raises, the outcome is the one its FastAPI version
    defines: the client has the endpoint's complete response, the background tasks run, and then the
    exception propagates out of the ASGI app, except in FastAPI 0.106 to 0.117, where the exception
    becomes a 500 response, no background task runs, and the exception propagates out of the ASGI app."""
    call = harness.post("/deps/yield-exit-error", json={})
    response, raised = await harness.complete(call)
    assert isinstance(raised, ScenarioFailure), f"expected the exit code's ScenarioFailure, got {raised!r}"
    app_error: Step = ("the app call raising", lambda e: e.kind == "app.error" and e["call"] == call.id)
    if era["outcome"] == "after-tasks":
        assert (response.status, response.json()) == (200, {"status": "returned"})
        in_order(harness.timeline, ("the final body chunk", final_body(call.id)),
                 task_step(started, "after_exit_error", "starting"),
                 task_step(ended, "after_exit_error", "ending"), dependency_exit("exit-error"), app_error)
    elif era["outcome"] == "replaces-response":
        assert response.status == 500
        in_order(harness.timeline, dependency_exit("exit-error"),
                 ("the response start", lambda e: is_response_start(e, call.id)))
        await no_task_ran(harness, call, "after_exit_error")
    else:
        raise AssertionError(f"unknown outcome {era['outcome']!r} in spec/requirements/dependencies.toml")


@requirement("DEPS-005", MUST)
@needs(DEPENDENCIES)
async def test_function_scope_dependency_exit_point(harness: Harness, era: dict[str, Any]) -> None:
    """A dependency with yield declared with Depends(scope="function") runs its exit code after the
    endpoint returns and before the response is sent, so that a resource it yields is closed inside a
    background task; before FastAPI 0.121, which has no scope parameter, the same dependency is declared
    without it and exits where that version puts a yield dependency's exit code."""
    call = harness.post("/deps/function-scope", json={})
    await check_exit_point(harness, call, "function-scope", era["outcome"])
    assert (await call.response()).json() == {"scope": era["scope"]}, "the scope the route declared"


async def response_background(harness: Harness, background: str) -> AsgiCall:
    call = harness.post(f"/deps/response-background?background={background}", json={})
    response = await call.response()
    assert (response.status, response.json()) == (200, {"background": background})
    return call


@requirement("DEPS-006", MUST)
@needs(DEPENDENCIES)
async def test_own_response_background_replaces_injected_tasks(harness: Harness) -> None:
    """When the endpoint returns a Response with its own background task, that task runs after the response
    is complete and is the only task that runs: the tasks added to the injected BackgroundTasks, by
    dependencies and by the endpoint, are discarded."""
    call = await response_background(harness, "task")
    raised = await call.finished()
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"
    assert {"rb.dependency", "rb.injected"} <= set(added(harness.timeline)), (
        f"expected the route to add rb.dependency and rb.injected, saw {added(harness.timeline)}")
    ran = task_order(harness.timeline)
    assert ran == ["own_background"], (
        f"expected only own_background to run, saw {ran}; timeline:\n{harness.timeline.format()}")
    assert_before(harness.timeline, final_body(call.id), started("own_background"),
                  first_is="the final body chunk", then_is="the response's own task starting")


@requirement("DEPS-007", MUST)
@needs(DEPENDENCIES)
async def test_empty_response_background_discards_injected_tasks(harness: Harness) -> None:
    """When the endpoint returns a Response whose background is an empty BackgroundTasks(), no task runs:
    the tasks added to the injected BackgroundTasks, by dependencies and by the endpoint, are discarded."""
    call = await response_background(harness, "empty")
    await no_task_ran(harness, call, "rb.dependency", "rb.injected")


@requirement("DEPS-008", MUST)
@needs(DEPENDENCIES)
async def test_http_exception_from_endpoint_drops_tasks(harness: Harness) -> None:
    """When the endpoint raises HTTPException after add_task, the client receives the exception's status and
    detail, and no background task of the request runs, neither the endpoint's nor those its dependencies
    added."""
    call = harness.post("/deps/http-exception?where=endpoint", json={})
    response, raised = await harness.complete(call)
    assert raised is None, f"the app call raised {raised!r}"
    assert (response.status, response.json()) == (409, {"detail": "raised by the endpoint after add_task"})
    await no_task_ran(harness, call, "raise.dependency", "raise.endpoint")


@requirement("DEPS-009", MUST)
@needs(DEPENDENCIES)
async def test_http_exception_from_dependency_drops_tasks(harness: Harness) -> None:
    """When a dependency raises HTTPException after add_task, the client receives the exception's status and
    detail, the endpoint does not run, and no background task of the request runs."""
    call = harness.post("/deps/http-exception?where=dependency", json={})
    response, raised = await harness.complete(call)
    assert raised is None, f"the app call raised {raised!r}"
    assert (response.status, response.json()) == (409, {"detail": "raised by the dependency after add_task"})
    await no_task_ran(harness, call, "raise.dependency")
    assert "raise.endpoint" not in added(harness.timeline), "the endpoint ran after its dependency raised"


@requirement("DEPS-010", MUST)
@needs(SEEDS)
async def test_task_finds_the_row_by_id(harness: Harness) -> None:
    """A task handed the id of a row that the endpoint created through a database dependency receives the
    id the client received and finds that row when it runs."""
    gate = "update_search_index"
    harness.gate(gate)
    first = harness.post("/overview/items/", json={"name": "Widget", "user_email": "w@example.com"})
    first_id = (await first.response()).json()["id"]
    await harness.wait_started(gate)
    second = harness.post("/overview/items/", json={"name": "Gadget", "user_email": "g@example.com"})
    second_id = (await second.response()).json()["id"]  # while the first request's task still holds
    harness.open(gate)
    for call in (first, second):
        raised = await call.finished()
        assert raised is None, f"request {call.id} raised {raised!r}; timeline:\n{harness.timeline.format()}"
    assert first_id != second_id, f"two items got the same id: {first_id}"
    runs = harness.timeline.select(started(gate))
    assert [event["args"] for event in runs] == [(first_id,), (second_id,)]
    assert task_order(harness.timeline, "end").count(gate) == 2, (
        f"update_search_index did not find every row; timeline:\n{harness.timeline.format()}"
    )
    index = (harness.data_dir / "search_index.txt").read_text()
    assert sorted(index.splitlines()) == sorted([f"{first_id}: Widget", f"{second_id}: Gadget"])


EXIT_TASK_ROUTES = [pytest.param("/deps/yield-exit-task", "default", id="default"),
                    pytest.param("/deps/yield-exit-task/function", "function", id="function")]


@requirement("DEPS-011", MUST)
@needs(DEPENDENCIES)
@pytest.mark.parametrize(("route", "scope"), EXIT_TASK_ROUTES)
async def test_task_added_in_a_yield_dependencys_exit_code(
    harness: Harness, era: dict[str, Any], route: str, scope: str, observe: Callable[[str, Any], None]
) -> None:
    """A task that a dependency with yield adds in its exit code (after the yield) has the fate its FastAPI version
    gives it: with the default scope it is dropped silently, except in FastAPI 0.106 to 0.117, where it runs after
    the response; declared with Depends(scope="function") (FastAPI 0.121 and later) it runs after the response."""
    want = era["outcome"] if scope == "default" else era["function"]
    call = harness.post(route, json={})
    response, raised = await harness.complete(call)  # the app call has returned: every task that runs has run
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"
    assert response.status == 200, f"expected 200, got {response}"
    declared = response.json()["scope"]
    assert declared == ("function" if scope == "function" and era["fastapi"] == ">=0.121" else "default"), (
        f"the route declared scope {declared!r}")
    assert "added_on_exit" in added(harness.timeline), (
        f"expected the exit code to add added_on_exit, saw no task.add of it; timeline:\n{harness.timeline.format()}")
    ran = task_order(harness.timeline)
    seen = "runs" if "added_on_exit" in ran else "dropped"
    observe(f"exit-code task [{scope}]", seen)
    assert seen == want, (
        f"expected the task added in the exit code ({scope} scope) to be {want} ({era['expect']}), saw it {seen}; "
        f"timeline:\n{harness.timeline.format()}")
    if seen == "runs":
        in_order(harness.timeline, dependency_exit("exit-task"), ("the final body chunk", final_body(call.id)),
                 task_step(started, "added_on_exit", "starting"), task_step(ended, "added_on_exit", "ending"))


@requirement("DEPS-012", MUST)
@needs(DEPENDENCIES)
async def test_stream_uses_a_yielded_resource(
    harness: Harness, era: dict[str, Any], observe: Callable[[str, Any], None]
) -> None:
    """A StreamingResponse whose generator uses a resource from a dependency with yield finds it where its FastAPI
    version puts the exit code: open while every chunk is produced, with the exit code after the final chunk,
    except in FastAPI 0.106 to 0.117, where the exit code has run before the response starts and the generator
    finds the resource closed."""
    call = harness.post("/deps/yield-stream", json={})
    response, raised = await harness.complete(call)
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"
    assert (response.status, response.body) == (200, b"chunk-0\nchunk-1\nchunk-2\n"), (
        f"expected 200 with three chunks, got {response} {response.body!r}")
    uses = harness.timeline.select(lambda e: e.kind == "resource.use" and e["resource"] == "yield-stream")
    states = sorted({"closed" if use["closed"] else "open" for use in uses})
    observe("resource seen by the stream", "/".join(states))
    assert len(uses) == 3 and states == [era["outcome"]], (
        f"expected the generator to find the resource {era['outcome']} at each of its 3 chunks ({era['expect']}), "
        f"saw {[('closed' if u['closed'] else 'open') for u in uses]}; timeline:\n{harness.timeline.format()}")
    if era["outcome"] == "open":
        in_order(harness.timeline, ("the final body chunk", final_body(call.id)), dependency_exit("yield-stream"))
    else:
        in_order(harness.timeline, dependency_exit("yield-stream"),
                 ("the response start", lambda e: is_response_start(e, call.id)))


# -- issue 21: route groups (CONTRACT.md section 12) --------------------------------------------------
GROUP_ORDER = ["added-by.include", "added-by.group"]


async def group_tasks_ran(harness: Harness, call: AsgiCall, tasks: list[str], status: int = 200) -> None:
    """Once the app call has returned: the response has ``status``, exactly ``tasks`` were added and ran, each once,
    in that order, each after the final body chunk."""
    response, raised = await harness.complete(call)
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"
    assert response.status == status, f"expected {status}, got {response}"
    timeline = harness.timeline
    assert added(timeline) == tasks, (f"expected the route to add {tasks}, in that order; saw {added(timeline)}; "
                                      f"timeline:\n{timeline.format()}")
    assert_task_order(timeline, tasks)
    assert_task_order(timeline, tasks, "end")
    assert_before(timeline, final_body(call.id), started(tasks[0]), first_is="the final body chunk",
                  then_is=f"the first task ({tasks[0]!r}) starting")


@requirement("DEPS-013", MUST)
@needs(DEPENDENCIES)
async def test_a_route_groups_tasks_run_in_order_before_the_endpoints(harness: Harness) -> None:
    """Tasks added by the dependencies of a route group, those given to include_router(dependencies=...) and those of
    APIRouter(dependencies=...), share the request's one BackgroundTasks: they run after the final body chunk, each
    once, in resolution order (the include's, then the router's), before the endpoint's own."""
    call = harness.post(f"{GROUP_PREFIX}/order", json={})
    await group_tasks_ran(harness, call, [*GROUP_ORDER, "added-by.endpoint"])
    assert call.assemble().json() == {"group": "order"}, f"expected {{'group': 'order'}}, got {call.assemble()}"


@requirement("DEPS-014", MUST)
@needs(DEPENDENCIES)
async def test_a_response_background_discards_a_route_groups_tasks(harness: Harness) -> None:
    """When an endpoint of a route group returns a Response with a background of its own, only that background runs,
    after the final body chunk: the tasks the group's dependencies and the endpoint added to the injected
    BackgroundTasks are discarded, as for the endpoint's own dependencies."""
    call = harness.post(f"{GROUP_PREFIX}/response-background", json={})
    response, raised = await harness.complete(call)
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"
    assert response.json() == {"background": "task"}, f"expected {{'background': 'task'}}, got {response}"
    timeline = harness.timeline
    discarded = [*GROUP_ORDER, "added-by.dependency", "added-by.endpoint"]
    assert added(timeline) == discarded, (f"expected the route to add {discarded}, in that order; saw "
                                          f"{added(timeline)}; timeline:\n{timeline.format()}")
    assert task_order(timeline) == ["own_background"], (
        f"expected only the response's own background ('own_background') to run, the injected tasks {discarded} "
        f"discarded; saw {task_order(timeline)} start; timeline:\n{timeline.format()}")
    assert_before(timeline, final_body(call.id), started("own_background"), first_is="the final body chunk",
                  then_is="'own_background' starting")


@requirement("DEPS-015", MUST)
@needs(FRONTEND_ROUTES)
async def test_a_frontend_route_groups_tasks_run_after_the_file(harness: Harness) -> None:
    """A static file served by a frontend() route group of a router with dependencies gets the tasks those
    dependencies add: the client receives the whole file, then the tasks run after its final body chunk, each
    once, in resolution order."""
    call = harness.start("GET", FRONTEND_PATH)
    await group_tasks_ran(harness, call, GROUP_ORDER)
    body = call.assemble().body
    assert body == FRONTEND_FILE, f"expected the whole file {FRONTEND_FILE!r}, got {body!r}"


# -- issue 21: a declared status code; a frontend() group's dependency with a header (contract 4) ------------
FRONTEND_HEADER = ("x-group-dependency", "set")  # what the header group's dependency sets (CONTRACT.md section 16)
HEADER_TASK = "added-by.frontend-header"


@requirement("DEPS-016", MUST)
@needs(DEPENDENCIES)
async def test_a_route_declared_202_answers_202_and_runs_its_tasks_after(harness: Harness) -> None:
    """A path operation declared with status_code=202 (Accepted: the work is done later) answers 202, and the tasks
    its dependencies and endpoint added run after the final body chunk, each once, in resolution order."""
    call = harness.post("/deps/accepted", json={})
    tasks = ["added-by.app", "added-by.router", "added-by.endpoint"]
    await group_tasks_ran(harness, call, tasks, status=202)
    assert call.assemble().json() == {"accepted": True}, f"expected {{'accepted': true}}, got {call.assemble()}"


@requirement("DEPS-017", MUST)
@needs(FRONTEND_ROUTES)
async def test_a_frontend_groups_dependency_gives_the_file_its_header_and_task(harness: Harness) -> None:
    """A dependency of a frontend() route group that adds a task and sets a response header through its Response
    parameter has both applied to the static file: the client receives the whole file with that header, then the
    task runs, once, after the final body chunk."""
    call = harness.start("GET", FRONTEND_HEADER_PATH)
    await group_tasks_ran(harness, call, [HEADER_TASK])
    response = call.assemble()
    assert response.body == FRONTEND_FILE, f"expected the whole file {FRONTEND_FILE!r}, got {response.body!r}"
    name, value = FRONTEND_HEADER
    assert response.header(name) == value, (
        f"expected the header {name}: {value} that the group's dependency set on its Response parameter, got "
        f"{response.header(name)!r} among {response.headers}")


@requirement("DEPS-018", MUST)
@needs(FRONTEND_ROUTES)
async def test_a_method_a_frontend_group_does_not_serve_runs_none_of_its_dependencies(harness: Harness) -> None:
    """A request to a frontend() route group's file with a method the group does not serve (POST; it serves GET and
    HEAD) is answered 405 without resolving the group's dependencies: they add no task, and no task runs."""
    call = harness.post(FRONTEND_HEADER_PATH, json={})
    response, raised = await harness.complete(call)
    assert raised is None, f"expected the app call to return, saw it raise {raised!r}"
    assert response.status == 405, f"expected 405 (the group serves GET and HEAD only), got {response}"
    assert added(harness.timeline) == [], (
        f"expected the group's dependencies not to run for a method it does not serve, saw them add "
        f"{added(harness.timeline)}; timeline:\n{harness.timeline.format()}")
    ran = task_order(harness.timeline)
    assert ran == [], f"expected no task to run, saw {ran} start; timeline:\n{harness.timeline.format()}"
