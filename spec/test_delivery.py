"""Delivery: what a queue-backed implementation guarantees, against a real Redis and real worker processes.

The queue tier (``--bgtasks-queue``) starts both for the session; every task reports to this test's probe
over TCP from the worker that runs it (with its host, process id and worker name) and holds on its gates.
Nothing here sleeps to wait: tests wait for the workers' reports, with timeouts.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import pytest

from bgtasks_conformance import MUST, AsgiCall, Harness, requirement
from bgtasks_conformance.observe.events import assert_before, assert_task_order, ended, errored, final_body, started
from bgtasks_conformance.observe.timeline import Event, ExpectationFailed
from bgtasks_conformance.plugin.queue import QUEUE_SUMMARY
from bgtasks_conformance.plugin.wire import LoadSettings
from bgtasks_conformance.queue.processes import ancestry
from bgtasks_conformance.queue.redis import free_port
from bgtasks_conformance.queue.stack import QueueStack
from bgtasks_conformance.results.registry import queue_tier
from bgtasks_conformance.target.loader import Target

pytestmark = [pytest.mark.anyio, queue_tier]

Observe = Callable[[str, Any], None]
QUIET = 0.5  # how long a "no task starts" check watches: an idle worker takes a message within milliseconds
LOAD_REQUESTS = 200  # DLV-009's requests (fewer if --bgtasks-load-requests says so)


async def expect_quiet(harness: Harness, predicate: Callable[[Event], bool], forbidden: str) -> None:
    __tracebackhide__ = True
    await harness.timeline.expect_none(predicate, within=max(QUIET, harness.timeouts.quiet), forbidden=forbidden)


def queue_state(task: str) -> Callable[[Event], bool]:
    return lambda e: e.kind == "queue.state" and e["task"] == task


async def handed_over(harness: Harness, tasks: list[dict[str, Any]], **plan: Any) -> AsgiCall:
    """Send the plan; the response complete, the app call returned (the tasks are with the queue now)."""
    call = harness.scenario(tasks, **plan)
    response = await call.response()
    assert response.status == 200, f"expected POST /scenario to answer 200, got {response}"
    raised = await call.finished()
    assert raised is None, f"expected the app call to return once the tasks were handed over, saw {raised!r}"
    return call


def functions(ids: list[str]) -> list[dict[str, Any]]:
    """Sync and async importable functions, alternating: what any queue carries."""
    return [{"id": task, "form": ("function", "async_function")[n % 2]} for n, task in enumerate(ids)]


@requirement("DLV-001", MUST)
@pytest.mark.parametrize("kind", ["json", "stream"])
async def test_nothing_is_handed_over_before_the_response(harness: Harness, queue_stack: QueueStack,
                                                          kind: str) -> None:
    """Nothing is handed to the queue before the response is complete: while the final http.response.body message
    is still being sent, no task of the request starts in any worker, and every task starts only after that send
    returned."""
    send = harness.hold_final_send()
    call = harness.post("/scenario", json={"tasks": functions(["first", "second"]), "response": {"kind": kind}},
                        send_gate=send)
    await harness.wait(lambda e: e.kind == "send.held", "the final body send to be held")
    await expect_quiet(harness, started(), "task starting in a worker while the final body send is still held")
    send.open()
    await call.response()
    for task in ("first", "second"):
        await harness.wait_finished(task)
        assert_before(harness.timeline, final_body(call.id), started(task),
                      first_is="the final send returning", then_is=f"task {task!r} starting in a worker")


@requirement("DLV-002", MUST)
async def test_every_task_runs_exactly_once(harness: Harness, queue_stack: QueueStack, observe: Observe) -> None:
    """In normal operation every task handed to the queue is executed exactly once: it starts once and ends once,
    in a worker process, and the queue records it as succeeded."""
    ids = [f"t{n}" for n in range(6)]
    tasks = [{**task, "gate": f"hold-{task['id']}"} for task in functions(ids)]  # alive while its process is read
    call = harness.scenario(tasks)
    response = await call.response()
    assert response.status == 200, f"expected POST /scenario to answer 200, got {response}"
    where: dict[str, str] = {}
    for task in ids:
        where[task] = await _run_by_a_worker(harness, queue_stack, task)
        harness.open(f"hold-{task}")
    raised = await call.finished()
    assert raised is None, f"expected the app call to return once the tasks were handed over, saw {raised!r}"
    observe("worker_by_task", where)
    timeline = harness.timeline
    await timeline.wait_for_count(ended(), len(ids), timeout=harness.timeouts.wait, expected=f"{len(ids)} tasks to end")
    states = await timeline.wait_for_count(lambda e: e.kind == "queue.state", len(ids), timeout=harness.timeouts.wait,
                                           expected=f"the queue's record of {len(ids)} tasks")
    await expect_quiet(harness, lambda e: e.kind == "task.start" and e.seq > states[-1].seq,
                       "task starting again after every task had run and was recorded")
    assert_task_order(timeline, ids)
    assert_task_order(timeline, ids, "end")
    recorded = {e["task"]: e["state"] for e in timeline.select(lambda e: e.kind == "queue.state")}
    observe("queue_states", recorded)
    assert recorded == dict.fromkeys(ids, "SUCCESS"), f"expected the queue to record SUCCESS for {ids}, saw {recorded}"


async def _run_by_a_worker(harness: Harness, queue_stack: QueueStack, task: str) -> str:
    """The worker that runs ``task``, held on its gate: the worker process the suite started, or a process below it
    (a prefork pool's child, a work horse forked per job), by the chain of parent process ids; never the web
    process."""
    __tracebackhide__ = True
    event = await harness.wait_started(task)
    pid = event.get("pid", -1)
    name = await asyncio.to_thread(queue_stack.workers.owner, pid)
    if name is None:
        chain = await asyncio.to_thread(ancestry, pid)
        workers = {worker: child.pid for worker, child in queue_stack.workers.running.items()}
        here = " (the web process: the suite's own)" if pid == os.getpid() else ""
        raise AssertionError(f"expected task {task!r} to run in a worker process or one it forked, saw it start in "
                             f"pid {pid}{here} on {event.get('host')!r}, whose chain of parents {chain} holds none of "
                             f"the workers' {workers}")
    main = queue_stack.workers.running[name].pid
    return f"{name} (pid {pid})" if pid == main else f"{name} (pid {pid}, below the worker's pid {main})"


@requirement("DLV-003", MUST)
async def test_order_holds_across_workers(harness: Harness, queue_stack: QueueStack, observe: Observe) -> None:
    """The tasks of one request run in the order they were added, one at a time, while several workers take tasks:
    a task starts only after the task added before it has ended, whichever worker runs it."""
    requests = {name: [f"{name}.{n}" for n in range(3)] for name in ("r1", "r2")}
    for name, ids in requests.items():  # the first of each holds: two workers busy, the others idle
        tasks = functions(ids)
        tasks[0]["gate"] = f"{name}-gate"
        await handed_over(harness, tasks)
    for ids in requests.values():
        await harness.wait_started(ids[0])
    await expect_quiet(harness, lambda e: e.kind == "task.start" and e["task"].endswith((".1", ".2")),
                       "second task of a request starting while its first still runs (a worker was idle)")
    for name in requests:
        harness.open(f"{name}-gate")
    for ids in requests.values():
        await harness.wait_finished(ids[-1])
        for before, after in itertools.pairwise(ids):
            assert_before(harness.timeline, ended(before), started(after),
                          first_is=f"task {before!r} ending", then_is=f"task {after!r} starting")
    workers = {e["task"]: f"{e.get('worker')} (pid {e.get('pid')})" for e in harness.timeline.select(started())}
    observe("workers_by_task", workers)
    assert len(set(workers.values())) >= 2, (  # a prefork pool's children are workers that take tasks concurrently
        f"expected the tasks spread over two or more worker processes, saw {workers}")


JSON_ARGUMENTS = [None, True, False, 0, -7, 2**53 + 1, 1.5, -0.25, "", "é✓\n\"quoted\"", [], [1, [2, [3]]],
                  {"": None, "nested": {"list": [True, 1.0, "x"], "empty": {}}}]
JSON_KEYWORDS = {"null": None, "number": 10**18, "float": 3.25, "text": "ünïcode", "list": [{"a": [None]}],
                 "object": {"k": {"l": [0]}}}


@requirement("DLV-004", MUST)
@pytest.mark.parametrize("form", ["function", "async_function"])
async def test_json_arguments_arrive_equal(harness: Harness, queue_stack: QueueStack, form: str) -> None:
    """Arguments that are JSON values (null, booleans, integers, floats, strings, lists and objects with string
    keys, nested) reach a task in a worker equal and of the same types; a value the queue's serializer cannot carry
    makes the hand-over fail loudly (logged at ERROR, or the request's app call raises), never arrive changed in
    silence or vanish."""
    await handed_over(harness, [{"id": "t", "form": form, "args": JSON_ARGUMENTS, "kwargs": JSON_KEYWORDS}])
    await harness.wait_finished("t")
    args, kwargs = harness.started_args("t")
    sent = (tuple(JSON_ARGUMENTS), JSON_KEYWORDS)
    assert (args, kwargs) == sent, f"expected the arguments {sent!r}, saw {(args, kwargs)!r}"
    assert _types((args, kwargs)) == _types(sent), f"expected the types {_types(sent)}, saw {_types((args, kwargs))}"


@requirement("DLV-004", MUST)
async def test_an_argument_the_queue_cannot_carry_fails_loudly(
    harness: Harness, queue_stack: QueueStack, caplog: pytest.LogCaptureFixture, observe: Observe
) -> None:
    """Arguments that are JSON values (null, booleans, integers, floats, strings, lists and objects with string
    keys, nested) reach a task in a worker equal and of the same types; a value the queue's serializer cannot carry
    makes the hand-over fail loudly (logged at ERROR, or the request's app call raises), never arrive changed in
    silence or vanish."""
    caplog.set_level(logging.ERROR)
    what, value = CANNOT_CARRY[queue_stack.spec.serializer]
    call = harness.scenario([{"id": "model", "args": [value]}])
    response = await call.response()
    raised = await call.finished()
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    arrived = harness.timeline.first(started("model"))
    waited = 0.0
    if arrived is None and raised is None and not logged:  # handed over in silence: it may yet arrive, changed
        waited = harness.timeouts.wait
        try:
            arrived = await harness.timeline.wait_for(started("model"), timeout=waited, expected="'model' to start")
        except ExpectationFailed:
            arrived = None
    observe("argument_it_cannot_carry", {"value": what, "raised": repr(raised),
                                         "logged": [r.getMessage() for r in logged],
                                         "arrived": arrived is not None and repr(arrived["args"])})
    assert arrived is None, (
        f"expected {what} refused at the hand-over ({queue_stack.spec.serializer} cannot carry it), saw it arrive "
        f"changed, as {arrived['args']!r}")
    assert raised is not None or logged, (
        f"expected the hand-over of {what} to fail loudly (logged at ERROR or raised), saw "
        f"response {response.status}, the app call return {raised!r}, nothing logged, and the task not start within "
        f"{waited:g}s of the app call's return (it vanished); timeline:\n{harness.timeline.format()}")


# A value the declared serializer cannot carry (conformance_queue["serializer"]): a Pydantic model has no JSON form;
# a lock, like a database session or a connection, has no form in any serializer.
CANNOT_CARRY = {"json": ("a Pydantic model argument", {"$model": {"name": "m", "size": 2}}),
                "pickle": ("a threading.Lock argument", {"$lock": True})}
# Values JSON has no form for, which pickle carries as they are (DLV-020).
BEYOND_JSON = [{"$tuple": [1, "two", [3]]}, {"$now": True}, {"$model": {"name": "m", "size": 2}}]


@requirement("DLV-020", MUST)
async def test_the_declared_serializer_is_the_one_used(harness: Harness, queue_stack: QueueStack,
                                                       caplog: pytest.LogCaptureFixture, observe: Observe) -> None:
    """A queue-backed target declares the serializer that carries its tasks' arguments to the worker, and the
    declaration is true: under pickle, values JSON has no form for (a tuple, a datetime, a Pydantic model) reach the
    task equal and of the same types; under json, a tuple arrives as a list, never as a tuple."""
    serializer = queue_stack.spec.serializer
    caplog.set_level(logging.ERROR)
    plan = BEYOND_JSON if serializer == "pickle" else BEYOND_JSON[:1]
    call = harness.scenario([{"id": "t", "args": plan}])
    add = await harness.wait(lambda e: e.kind == "task.add" and e["task"] == "t", "the task to be added")
    raised = await call.finished()
    sent = add["args"]
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert raised is None and not logged, (
        f"expected {serializer} (declared) to carry {sent!r}, saw the hand-over refuse them ({raised!r}, logged: "
        f"{logged[:1]}): is the serializer the one declared?")
    await harness.wait_finished("t")
    args, _ = harness.started_args("t")
    observe("serializer", {"declared": serializer, "sent": _types(list(sent)), "arrived": _types(list(args))})
    if serializer == "pickle":
        assert args == sent and _types(args) == _types(sent), (
            f"expected pickle (declared) to carry {sent!r} as they are, types {_types(sent)}; saw {args!r}, types "
            f"{_types(args)} (app call: {raised!r}): is the serializer the one declared?")
    else:
        assert type(args[0]) is list and args[0] == list(sent[0]), (
            f"expected json (declared) to carry the tuple {sent[0]!r} as a list, {list(sent[0])!r}; saw {args[0]!r} "
            f"(a {type(args[0]).__name__}): a serializer that keeps tuples is not JSON")


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _types(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [type(value).__name__, *(_types(inner) for inner in value)]
    return type(value).__name__


@requirement("DLV-005", MUST)
async def test_a_killed_worker_loses_no_task_without_a_trace(
    harness: Harness, queue_stack: QueueStack, observe: Observe
) -> None:
    """When a worker is killed (SIGKILL) in the middle of a task, the task is never lost without a trace: a target
    that declares at-least-once delivery has the task delivered again and run to its end within the redelivery
    timeout it declares, one that declares at-most-once does not run it again, and the suite reports which it
    observed."""
    spec, workers = queue_stack.spec, queue_stack.workers
    await handed_over(harness, [{"id": "victim", "gate": "victim"}, {"id": "after", "form": "async_function"}])
    first = await harness.wait_started("victim")
    name = await asyncio.to_thread(workers.owner, first.get("pid", -1))
    assert name is not None, (
        f"expected 'victim' to run in one of the suite's workers or a process it forked, saw it start in {first}")
    await asyncio.to_thread(workers.kill, name, harness.timeouts.wait)
    killed = harness.timeline.record("worker.killed", worker=name, pid=first["pid"])
    replacement = asyncio.ensure_future(asyncio.to_thread(workers.start, queue_stack.timeout))  # the pool's size
    began = time.monotonic()
    try:
        if spec.delivery == "at-most-once":
            await harness.timeline.expect_none(lambda e: e.kind == "task.start" and e.seq > killed.seq,
                                               within=spec.redelivery_timeout, forbidden="'victim' delivered again")
            observe("delivery_after_kill", f"at-most-once, as declared: 'victim' died with {name} and did not run "
                                           f"again within {spec.redelivery_timeout:g}s")
            return
        try:
            again = await harness.timeline.wait_for_count(started("victim"), 2, timeout=spec.redelivery_timeout,
                                                          expected="'victim' delivered again")
        except ExpectationFailed:
            observe("delivery_after_kill", f"at-most-once, though at-least-once is declared: 'victim' died with "
                                           f"{name} and was not delivered again")
            raise ExpectationFailed(
                f"expected 'victim' delivered again within {spec.redelivery_timeout:g}s after its worker {name} was "
                f"killed (at-least-once, as declared); saw it start once: the task was lost with the worker (was it "
                f"acknowledged before its work?); timeline:\n{harness.timeline.format()}") from None
        harness.open("victim")
        await harness.wait(lambda e: e.kind == "task.end" and e["task"] == "victim", "'victim' to end")
        await harness.wait_finished("after")
        observe("delivery_after_kill", f"at-least-once: 'victim' delivered again {time.monotonic() - began:.1f}s after "
                                       f"{name} was killed, to {again[1].get('worker')}, and ran to its end")
    finally:
        harness.open("victim")
        await replacement


@requirement("DLV-006", MUST)
async def test_tasks_outlive_the_web_process(harness: Harness, queue_stack: QueueStack, conformance_target: Target,
                                             observe: Observe) -> None:
    """When the web process is gone right after it handed the tasks over (killed once its app call returned), the
    tasks still run to their end, in order, those that had not started yet included."""
    plan = {"tasks": [{"id": "first", "gate": "first"}, {"id": "second", "form": "async_function"}, {"id": "third"}]}
    command = [sys.executable, "-m", "bgtasks_conformance.queue.web_process",
               "--target", conformance_target.choice.spec, "--probe", harness.env.probe_address,
               "--broker", str(harness.env.broker_url),
               "--data-dir", str(harness.data_dir), "--plan", json.dumps(plan)]
    web = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        returned = await harness.timeline.wait_for(lambda e: e.kind == "web.returned", timeout=queue_stack.timeout,
                                                   expected="the web process (it imports the target) to return")
    finally:
        web.kill()
        stderr = (await asyncio.to_thread(web.communicate, None, harness.timeouts.wait))[1]
    gone = harness.timeline.record("web.killed", pid=web.pid, code=web.returncode)
    assert returned["pid"] == web.pid and returned["status"] == 200 and returned["raised"] is None, (
        f"expected the web process to answer 200 and return, saw {returned.describe()}; its stderr: {stderr[-800:]!r}")
    harness.open("first")
    await harness.wait_finished("third")
    assert_task_order(harness.timeline, ["first", "second", "third"])
    for task in ("second", "third"):
        assert_before(harness.timeline, lambda e: e.seq == gone.seq, started(task),
                      first_is="the web process being killed", then_is=f"task {task!r} starting")
    observe("after_the_web_process", "every task ran to its end after the web process was killed")


@requirement("DLV-007", MUST)
async def test_a_broker_outage_surfaces_and_passes(
    harness_factory: Any, queue_stack: QueueStack, caplog: pytest.LogCaptureFixture, observe: Observe
) -> None:
    """When the broker cannot be reached at the hand-over, the failure surfaces (it is logged at ERROR, or the
    request's app call raises) and is never silent; once the broker is reachable again, the same app hands its
    tasks over and they run, without a restart."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    caplog.set_level(logging.ERROR)
    async with harness_factory(broker_url=url) as harness:
        call = harness.scenario(functions(["lost"]))
        response = await call.response()
        raised = await call.finished()
        logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
        observe("broker_unreachable", {"response": response.status, "raised": repr(raised), "logged": logged[:2]})
        assert response.status == 200, f"expected the response complete before the hand-over, got {response}"
        assert raised is not None or logged, (
            f"expected the failed hand-over to {url} (nothing listens there) to be logged at ERROR with its traceback "
            f"or raised; saw the app call return {raised!r} and no such record: the task was lost in silence")
        redis = queue_stack.another_redis(port)
        await asyncio.to_thread(redis.start, queue_stack.timeout)
        await asyncio.to_thread(queue_stack.workers_for(url, "outage-worker").start, queue_stack.timeout)
        await handed_over(harness, functions(["back", "again"]))
        await harness.wait_finished("again")
        assert_task_order(harness.timeline, ["back", "again"])


@requirement("DLV-008", MUST)
async def test_a_failing_task_is_recorded_and_leaves_the_app_alone(
    harness: Harness, queue_stack: QueueStack, observe: Observe
) -> None:
    """When a task raises in a worker, the queue records it as failed, the later tasks of its request fare as the
    target declares (not run for 'stop', run for 'run'), and the web app is untouched: the response was complete
    and later requests are served and their tasks run."""
    call = await handed_over(harness, [{"id": "boom", "fail": "error"}, {"id": "after-1"},
                                       {"id": "after-2", "form": "async_function"}])
    assert call.assemble().json() == {"scheduled": ["boom", "after-1", "after-2"]}, (
        f"expected the complete response, got {call.assemble()}")
    await harness.wait(errored("boom"), "task 'boom' to raise in its worker")
    state = await harness.wait(queue_state("boom"), "the queue's record of 'boom'")
    observe("failed_task_state", state["state"])
    assert state["state"] == "FAILURE", f"expected the queue to record 'boom' as FAILURE, saw {state.describe()}"
    if queue_stack.spec.after_failure == "stop":
        await expect_quiet(harness, started("after-1"), "task after the failed one starting ('stop' is declared)")
    else:
        await harness.wait_finished("after-2")
    later = await handed_over(harness, functions(["later"]), response={"kind": "stream"})
    assert later.assemble().body, f"expected the later request's complete response, got {later.assemble()}"
    end = await harness.wait_finished("later")
    assert end.kind == "task.end", f"expected the later task to run to its end, saw {end.describe()}"


@requirement("DLV-009", MUST)
async def test_load_every_task_once_in_order(
    harness: Harness, queue_stack: QueueStack, load_settings: LoadSettings, observe: Observe
) -> None:
    """Under load, hundreds of concurrent requests with several tasks each, served by two or more workers: every
    response is complete before its first task starts, every task runs exactly once, the tasks of each request start
    in the order added, and the counts are reported."""
    count = min(LOAD_REQUESTS, load_settings.requests)
    plans = {n: [f"r{n}.{k}" for k in range(3 + n % 3)] for n in range(count)}
    total = sum(len(ids) for ids in plans.values())
    limit = asyncio.Semaphore(min(load_settings.concurrency, 50))
    calls: dict[int, AsgiCall] = {}
    began = time.monotonic()

    async def send(n: int) -> None:
        async with limit:
            calls[n] = call = harness.scenario(functions(plans[n]))
            response = await call.response()
            assert response.status == 200, f"expected request {n} to get 200, got {response}"
            raised = await call.finished()
            assert raised is None, f"expected request {n}'s app call to return, saw {raised!r}"

    await asyncio.wait_for(asyncio.gather(*(send(n) for n in plans)), load_settings.timeout)
    try:
        await harness.timeline.wait_for_count(ended(), total, timeout=load_settings.timeout,
                                              expected=f"the {total} tasks of {count} requests to end")
    except ExpectationFailed as error:
        raise ExpectationFailed(f"{str(error).split('; timeline')[0]}; {_missing(harness, plans)}") from None
    seconds = time.monotonic() - began
    problems, seen = _account(harness, plans, calls)
    workers = Counter(event.get("worker") for event in harness.timeline.select(started()))
    line = (f"queue load: {count} requests, {total} tasks in {seconds:.2f}s ({total / seconds:.0f} tasks/s), "
            f"{sum(seen.values())} started, by {len(workers)} workers ({dict(sorted(workers.items()))}); "
            f"{len(problems)} problems")
    observe(f"{QUEUE_SUMMARY}[load]", line)
    observe("queue_load", {"requests": count, "tasks": total, "started": sum(seen.values()), "seconds": seconds,
                           "workers": dict(workers)})
    assert not problems, "expected every task once, in order, after its response; saw:\n  " + "\n  ".join(
        problems[:8]) + f"\n{line}"
    assert len(workers) >= 2, f"expected two or more workers to take tasks, saw {dict(workers)}; {line}"


def _missing(harness: Harness, plans: dict[int, list[str]], shown: int = 12) -> str:
    """The tasks that never started and those that started and never ended, by name (the first ``shown`` of each)."""
    began = {e["task"] for e in harness.timeline.select(started())}
    done = {e["task"] for e in harness.timeline.select(ended())}
    planned = [task for ids in plans.values() for task in ids]
    lost = [task for task in planned if task not in began]
    stuck = [task for task in planned if task in began and task not in done]

    def names(tasks: list[str]) -> str:
        return ", ".join(tasks[:shown]) + (f" and {len(tasks) - shown} more" if len(tasks) > shown else "")

    return (f"{len(lost)} never started ({names(lost) or 'none'}); {len(stuck)} started and never ended "
            f"({names(stuck) or 'none'})")


def _account(harness: Harness, plans: dict[int, list[str]], calls: dict[int, AsgiCall]
             ) -> tuple[list[str], Counter[str]]:
    """One pass over the timeline: what each request's tasks did, against its plan."""
    starts: dict[str, list[Event]] = defaultdict(list)
    finals: dict[int, int] = {}
    for event in harness.timeline.events:
        if event.kind == "task.start":
            starts[event["task"]].append(event)
        elif event.kind == "asgi.send" and event["type"] == "http.response.body" and not event["more_body"]:
            finals[event["call"]] = event.seq
    problems: list[str] = []
    for n, ids in plans.items():
        counts = [len(starts[task]) for task in ids]
        if counts != [1] * len(ids):
            problems.append(f"request {n}: started {dict(zip(ids, counts, strict=True))} times, expected once each")
            continue
        order = [starts[task][0].seq for task in ids]
        if order != sorted(order):
            problems.append(f"request {n}: tasks started out of order {sorted(ids, key=lambda t: starts[t][0].seq)}")
        if finals.get(calls[n].id, 1 << 60) > order[0]:
            problems.append(f"request {n}: its first task started before its response was complete")
    return problems, Counter({task: len(events) for task, events in starts.items()})
