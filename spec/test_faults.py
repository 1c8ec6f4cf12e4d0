"""Faults while the queue consumes: slow tasks, dead workers, a paused and a restarted broker, a poison message.

The queue tier's real Redis and worker processes; the suite injects each fault itself: it SIGKILLs the
process a task runs in or its whole worker, SIGSTOPs the broker for PAUSE seconds, SIGKILLs it and starts
it again from its append-only file. A task held on its gate for longer than the declared redelivery
timeout is the slow task. These durations are the faults; everything else waits for events, with timeouts.
What the queue recorded is read through the function the target declares (``conformance_queue["records"]``)
and reconciled with what ran.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from bgtasks_conformance import MUST, SHOULD, AsgiCall, Harness, requirement
from bgtasks_conformance.observe.events import assert_task_order, ended, errored, finished, started
from bgtasks_conformance.observe.timeline import Event, ExpectationFailed
from bgtasks_conformance.plugin.queue import QUEUE_SUMMARY
from bgtasks_conformance.queue import faults
from bgtasks_conformance.queue.stack import QueueStack
from bgtasks_conformance.results.registry import queue_tier
from bgtasks_conformance.spec.test_delivery import _account, _missing, expect_quiet, functions, handed_over

pytestmark = [pytest.mark.anyio, queue_tier]

Observe = Callable[[str, Any], None]
SLOW_MARGIN = 1.0  # the slow task holds this long past the declared redelivery timeout
PAUSE = 3.0  # seconds the broker is stopped (SIGSTOP) while tasks are consumed
PAUSE_REQUESTS = 12  # DLV-014's requests, three tasks each, half of them handed over during the pause
RESTART_REQUESTS = 8  # DLV-015's requests, three tasks each
DOWN = 1.0  # seconds DLV-015's broker stays down between its SIGKILL and its restart
QUIET_WORKERS = 0.5  # no task starts for this long: every worker is busy (an idle one takes a message at once)


def start_of(task: str, after: int = -1) -> Callable[[Event], bool]:
    return lambda e: e.kind == "task.start" and e["task"] == task and e.seq > after


def start_after(seq: int) -> Callable[[Event], bool]:
    return lambda e: e.kind == "task.start" and e.seq > seq


def given_up(task: str) -> Callable[[Event], bool]:
    return lambda e: e.kind == "queue.state" and e["task"] == task and e["state"] in faults.GIVEN_UP


def delivered_or_given_up(task: str, after: int) -> Callable[[Event], bool]:
    again, gave_up = start_of(task, after), given_up(task)
    return lambda e: again(e) or gave_up(e)


async def reconciled(harness: Harness, queue_stack: QueueStack, tasks: list[str], observe: Observe,
                     what: str) -> faults.Records:
    """The queue's records of ``tasks``, once they agree with what ran; the disagreements fail the test."""
    __tracebackhide__ = True
    records, problems = await faults.settled(queue_stack.spec, str(harness.env.broker_url), harness.env.probe_address,
                                             tasks, harness.timeline, harness.timeouts.wait)
    observe("queue_records", {task: records[task].get("state") for task in tasks if task in records})
    assert not problems, (f"expected the queue's records to agree with what ran {what} (waited "
                          f"{harness.timeouts.wait:g}s for them to settle), saw:\n  " + "\n  ".join(problems)
                          + f"\nrecords: {records}")
    return records


async def disagreements(harness: Harness, queue_stack: QueueStack, tasks: list[str]) -> str:
    """What the queue's records say against what ran, for a failure message (read once, as they are now)."""
    try:
        records = await asyncio.to_thread(faults.read_records, queue_stack.spec, str(harness.env.broker_url),
                                          harness.env.probe_address)
    except (faults.RecordsError, OSError) as error:
        return f"the records could not be read ({error})"
    problems = faults.reconcile(tasks, harness.timeline, records)
    return "the records agree with what ran" if not problems else "the records: " + "; ".join(problems[:6])


def lossy(harness: Harness, plans: dict[int, list[str]]) -> list[str]:
    """At-most-once: a task may be lost (its record says so), but none runs twice, and those that ran kept their
    request's order."""
    problems = []
    every = [e["task"] for e in harness.timeline.select(started())]
    for n, ids in plans.items():
        starts = [task for task in every if task in ids]
        twice = sorted({task for task in starts if starts.count(task) > 1})
        if twice:
            problems.append(f"request {n}: {twice} started more than once")
        elif starts != [task for task in ids if task in starts]:
            problems.append(f"request {n}: tasks started out of order {starts}")
    return problems


async def workers_busy(harness: Harness) -> int:
    """Once the workers take no further task (each holds one on its gate; the rest wait in the broker), how many
    run. A broker killed then loses no message in the instant it hands it to a worker: kombu's Redis transport
    pops a message and records it as unacknowledged in two commands (a gap the suite does not test)."""
    await harness.wait(started(), "a task to start in a worker")
    while True:  # ends: each round needs a further start, and the tasks are few
        starts = harness.timeline.select(started())
        try:
            await harness.timeline.expect_none(start_after(starts[-1].seq), within=QUIET_WORKERS, forbidden="start")
        except ExpectationFailed:
            continue
        return len(starts)


def replace_worker(queue_stack: QueueStack) -> asyncio.Future[Any]:
    """A worker started in the background in place of one killed (the pool keeps its size)."""
    return asyncio.ensure_future(asyncio.to_thread(queue_stack.workers.start, queue_stack.timeout))



async def no_task_starts_again(harness: Harness) -> None:
    """Every task has ended: none starts again (a redelivery after the fault) within the quiet check's time."""
    __tracebackhide__ = True
    last = harness.timeline.events[-1].seq
    await expect_quiet(harness, lambda e: e.kind == "task.start" and e.seq > last,
                       "task starting again after every task had ended")

@requirement("DLV-010", MUST)
async def test_a_slow_task_runs_once(harness: Harness, queue_stack: QueueStack, observe: Observe) -> None:
    """A task that runs longer than the redelivery timeout the target declares, on a worker that stays alive, is
    not delivered again while it runs: it starts once and ends once."""
    hold = queue_stack.spec.redelivery_timeout + SLOW_MARGIN
    probe, gate_timeout = harness.probe, harness.probe.gate_timeout
    probe.gate_timeout = max(gate_timeout, hold + harness.timeouts.wait)  # the slow task outlasts the usual bound
    try:
        await handed_over(harness, [{"id": "slow", "gate": "slow"}])
        first = await harness.wait_started("slow")
        try:
            await harness.timeline.expect_none(
                start_of("slow", first.seq), within=hold,
                forbidden=f"second start of 'slow' while its first run, on a live worker, held for {hold:g}s (the "
                          f"declared redelivery timeout {queue_stack.spec.redelivery_timeout:g}s and "
                          f"{SLOW_MARGIN:g}s): a visibility timeout shorter than the task delivers it again")
        finally:
            harness.open("slow")
        end = await harness.wait_finished("slow")
    finally:
        probe.gate_timeout = gate_timeout
    assert end.kind == "task.end", f"expected 'slow' to run to its end once its gate opened, saw {end.describe()}"
    await expect_quiet(harness, start_of("slow", first.seq), "second start of 'slow' after its end")
    observe("slow_task", f"held {hold:g}s on a live worker, started once")


@requirement("DLV-011", MUST)
async def test_every_delivery_carries_the_tasks_delivery_id(harness: Harness, queue_stack: QueueStack,
                                                            observe: Observe) -> None:
    """Every run of a task in a worker carries the delivery id the queue gave the task: never empty, distinct
    between tasks, and the same on every delivery of one task, so that an idempotent task recognises a duplicate."""
    spec = queue_stack.spec
    await handed_over(harness, [{"id": "dup", "gate": "dup"}])
    first = await harness.wait_started("dup")
    killed = await asyncio.to_thread(faults.kill_task_process, queue_stack.workers, first.get("pid", -1),
                                     harness.timeouts.wait)
    replacement = replace_worker(queue_stack) if killed.whole_worker else None
    harness.timeline.record("task.killed", task="dup", pid=killed.pid, worker=killed.worker)
    try:
        starts = [first]
        if spec.delivery == "at-least-once":
            starts = await harness.timeline.wait_for_count(
                started("dup"), 2, timeout=spec.redelivery_timeout,
                expected=f"'dup' delivered again after the process running it (pid {killed.pid}) was killed "
                         f"(at-least-once, as declared)")
        harness.open("dup")
        await handed_over(harness, functions(["one", "two"]))
        await harness.wait_finished("two")
    finally:
        harness.open("dup")
        if replacement is not None:
            await replacement
    others = [(task, harness.timeline.select(started(task))[0]) for task in ("one", "two")]
    runs = [("dup", event) for event in starts[:2]] + others
    ids = [(task, event.get("queue_id")) for task, event in runs]
    observe("delivery_ids", ids)
    empty = [task for task, value in ids if not value]
    assert not empty, (f"expected every start to carry the queue's delivery id (the worker passes it with "
                       f"named.delivery(queue_id=...)), saw none on {empty}: {ids}")
    dup = [value for task, value in ids if task == "dup"]
    assert len(set(dup)) == 1, (f"expected both deliveries of 'dup' (its process killed in between) to carry the "
                                f"same delivery id, saw {dup}: an idempotent task cannot recognise the duplicate")
    assert len({value for _, value in ids}) == 3, f"expected distinct tasks to carry distinct delivery ids, saw {ids}"


@requirement("DLV-012", MUST)
async def test_a_list_stranded_by_a_dead_worker_is_run_or_accounted_for(
    harness: Harness, queue_stack: QueueStack, observe: Observe
) -> None:
    """When the worker running one task of a request's list is killed (SIGKILL, with every process below it), no
    task of the list vanishes: under at-least-once the killed task and every task after it run to their end, in
    order, and no task before it runs again; under at-most-once none runs again and the queue's records hold the
    killed task and every later one as not completed."""
    spec, workers = queue_stack.spec, queue_stack.workers
    ids = ["a", "victim", "b", "c"]
    plan = functions(ids)
    plan[1]["gate"] = "victim"
    await handed_over(harness, plan)
    first = await harness.wait_started("victim")
    name = await asyncio.to_thread(workers.owner, first.get("pid", -1))
    assert name is not None, f"expected 'victim' to run in one of the suite's workers, saw it start in {first}"
    await asyncio.to_thread(workers.kill, name, harness.timeouts.wait)
    killed = harness.timeline.record("worker.killed", worker=name, pid=first["pid"])
    replacement = replace_worker(queue_stack)
    try:
        if spec.delivery == "at-most-once":
            await harness.timeline.expect_none(
                lambda e: e.kind == "task.start" and e.seq > killed.seq, within=spec.redelivery_timeout,
                forbidden="task of the list starting after its worker was killed (at-most-once is declared)")
            records = await reconciled(harness, queue_stack, ids, observe, f"after {name} was killed in 'victim'")
            observe("stranded", {task: records[task]["state"] for task in ids[1:]})
            return
        try:
            await harness.timeline.wait_for_count(started("victim"), 2, timeout=spec.redelivery_timeout,
                                                  expected="'victim' delivered again")
        except ExpectationFailed:
            raise ExpectationFailed(
                f"expected 'victim' delivered again within {spec.redelivery_timeout:g}s after its worker {name} was "
                f"killed (at-least-once, as declared), saw it start once: it and the tasks after it ({ids[2:]}) are "
                f"stranded; timeline:\n{harness.timeline.format()}") from None
        harness.open("victim")
        try:
            await harness.wait_finished("c")
        except ExpectationFailed as error:
            raise ExpectationFailed(f"expected the tasks after the killed one to run, saw: "
                                    f"{str(error).split('; timeline')[0]}; timeline:\n{harness.timeline.format()}"
                                    ) from None
    finally:
        harness.open("victim")
        await replacement
    counts = {task: len(harness.timeline.select(started(task))) for task in ids}
    observe("starts_after_kill", counts)
    assert counts == {"a": 1, "victim": 2, "b": 1, "c": 1}, (
        f"expected 'a' (done before the kill) once, 'victim' twice (killed, then again), 'b' and 'c' once each, saw "
        f"{counts}: a redelivery that repeats the tasks before the killed one runs them twice")
    assert_task_order(harness.timeline, ["a", "victim", "b", "c"], "end")


@requirement("DLV-013", MUST)
async def test_the_queues_records_agree_with_what_ran(harness: Harness, queue_stack: QueueStack,
                                                     observe: Observe) -> None:
    """Once the tasks of a request have settled, the queue's records agree with what ran: each task handed over
    has a record, SUCCESS for each that ran to its end, FAILURE for one that raised, never SUCCESS for one that
    did not run, and no message of them is left in the broker."""
    spec = queue_stack.spec
    await handed_over(harness, functions(["ok1", "ok2"]))
    await handed_over(harness, [{"id": "boom", "fail": "error"}, *functions(["later1", "later2"])])
    await harness.wait_finished("ok2")
    await harness.wait(errored("boom"), "task 'boom' to raise in its worker")
    if spec.after_failure == "stop":
        await expect_quiet(harness, started("later1"), "task after the failed one starting ('stop' is declared)")
    else:
        await harness.wait_finished("later2")
    await reconciled(harness, queue_stack, ["ok1", "ok2", "boom", "later1", "later2"], observe,
                     "(two that succeeded, one that raised, two after it)")


@requirement("DLV-014", MUST)
async def test_a_paused_broker_loses_and_misrecords_nothing(
    harness: Harness, queue_stack: QueueStack, observe: Observe
) -> None:
    """When the broker stops answering for a few seconds (SIGSTOP, then SIGCONT) while tasks are consumed and
    handed over, every task still runs exactly once, in its request's order, and the queue records each as it
    ran: no failure recorded for a task that ran, nothing left in the broker."""
    plans = {n: [f"p{n}.{k}" for k in range(3)] for n in range(PAUSE_REQUESTS)}
    calls: dict[int, AsgiCall] = {}

    async def send(n: int) -> None:
        tasks = functions(plans[n])
        if n == 0:
            tasks[1]["gate"] = "across"  # running when the broker stops; ends while it is stopped
        calls[n] = call = harness.scenario(tasks)
        response = await call.response()
        assert response.status == 200, f"expected POST /scenario to answer 200, got {response}"
        raised = await call.finished(PAUSE + harness.timeouts.wait)  # a hand-over in the pause waits for its end
        assert raised is None, (f"expected the app call to return once the tasks were handed over (the broker paused "
                                f"for {PAUSE:g}s), saw {raised!r}")

    half = PAUSE_REQUESTS // 2
    await asyncio.gather(*(send(n) for n in range(half)))
    await harness.wait_started("p0.1")
    pausing = faults.pause(queue_stack.redis, PAUSE)
    stopped = harness.timeline.record("broker.stopped", seconds=PAUSE)
    try:
        during = asyncio.ensure_future(asyncio.gather(*(send(n) for n in range(half, PAUSE_REQUESTS))))
        harness.open("across")
    finally:
        await pausing
    harness.timeline.record("broker.resumed", after=stopped.seq)
    await during
    everything = [task for ids in plans.values() for task in ids]
    try:
        await harness.timeline.wait_for_count(ended(), len(everything), timeout=queue_stack.spec.redelivery_timeout
                                              + harness.timeouts.wait, expected=f"the {len(everything)} tasks to end")
    except ExpectationFailed as error:
        raise ExpectationFailed(f"expected every task to run after a {PAUSE:g}s pause of the broker, saw: "
                                f"{str(error).split('; timeline')[0]}: {_missing(harness, plans)}; "
                                f"{await disagreements(harness, queue_stack, everything)}; timeline:\n"
                                f"{harness.timeline.format()}") from None
    await no_task_starts_again(harness)
    problems, _ = _account(harness, plans, calls)
    assert not problems, (f"expected every task once, in order, across a {PAUSE:g}s pause of the broker; saw:\n  "
                          + "\n  ".join(problems[:8]))
    await reconciled(harness, queue_stack, everything, observe, f"across a {PAUSE:g}s pause of the broker")


def held_plans(prefix: str) -> dict[int, list[str]]:
    """The restart tests' requests: three tasks each, named ``{prefix}{request}.{task}``."""
    return {n: [f"{prefix}{n}.{k}" for k in range(3)] for n in range(RESTART_REQUESTS)}


async def hand_over_held(harness: Harness, plans: dict[int, list[str]]) -> tuple[dict[int, AsgiCall], int]:
    """Hands each plan over with its first task held on the gate "across", so that every worker is busy with a
    request's first task and the others wait in the broker; the calls, and how many workers run."""
    calls: dict[int, AsgiCall] = {}
    for n, ids in plans.items():
        tasks = functions(ids)
        tasks[0]["gate"] = "across"
        calls[n] = await handed_over(harness, tasks)
    return calls, await workers_busy(harness)


@requirement("DLV-015", MUST)
async def test_a_restarted_persistent_broker_loses_nothing(
    harness: Harness, queue_stack: QueueStack, observe: Observe
) -> None:
    """When the broker, persistent (its append-only file synced on every write), is killed (SIGKILL) and started
    again while the workers are busy with tasks and more tasks wait in it, the workers and the app carry on by
    themselves: every task handed over runs to its end exactly once, in order (under at-most-once, one that does not
    is recorded as not completed), and the queue's records agree with what ran."""
    spec, server = queue_stack.spec, queue_stack.redis
    plans = held_plans("r")
    everything = [task for ids in plans.values() for task in ids]
    await asyncio.to_thread(faults.make_persistent, server, harness.timeouts.wait)
    probe, gate_timeout = harness.probe, harness.probe.gate_timeout
    probe.gate_timeout = max(gate_timeout, queue_stack.timeout + harness.timeouts.wait)  # held across the restart
    try:
        calls, busy = await hand_over_held(harness, plans)
        began = time.monotonic()
        await asyncio.to_thread(server.crash, queue_stack.timeout)
        harness.timeline.record("broker.killed", running=busy)
        harness.open("across")  # the running tasks end while the broker is down: their writes must wait for it
        await asyncio.sleep(DOWN)  # how long the broker stays down is the fault injected
        await asyncio.to_thread(server.start, queue_stack.timeout, True)
        away = time.monotonic() - began
        harness.timeline.record("broker.restarted", seconds=round(away, 3))
        later = len(plans)
        plans[later] = ["after.0", "after.1"]  # handed over once it is back: the app carries on too
        calls[later] = await handed_over(harness, functions(plans[later]))
        everything += plans[later]
        try:
            await harness.timeline.wait_for_count(ended(), len(everything),
                                                  timeout=spec.redelivery_timeout + harness.timeouts.wait,
                                                  expected=f"the {len(everything)} tasks to end")
        except ExpectationFailed as error:
            if spec.delivery == "at-least-once":
                raise ExpectationFailed(
                    f"expected every task to run after the broker's restart ({away:.2f}s away, nothing lost: its "
                    f"append-only file is synced on every write), saw: {str(error).split('; timeline')[0]}: "
                    f"{_missing(harness, plans)}; {await disagreements(harness, queue_stack, everything)}; "
                    f"timeline:\n{harness.timeline.format()}") from None
        await no_task_starts_again(harness)
        problems = _account(harness, plans, calls)[0] if spec.delivery == "at-least-once" else lossy(harness, plans)
        assert not problems, (f"expected every task once, in order, across the broker's restart ({away:.2f}s away); "
                              "saw:\n  " + "\n  ".join(problems[:8]))
        await reconciled(harness, queue_stack, everything, observe, f"across the broker's restart ({away:.2f}s away)")
    finally:
        probe.gate_timeout = gate_timeout
        harness.open("across")
        await asyncio.to_thread(faults.make_transient, server, harness.timeouts.wait)


@requirement("DLV-016", SHOULD)
async def test_a_poison_message_is_given_up_after_bounded_deliveries(
    harness: Harness, queue_stack: QueueStack, observe: Observe
) -> None:
    """A task whose process dies on every delivery (a poison message) is delivered a bounded number of times, at
    most the maximum the target declares (once under at-most-once), and then given up with a record of it (a dead
    letter or a failed record), not left in the broker, while the workers go on serving."""
    spec = queue_stack.spec
    limit = spec.max_deliveries or (1 if spec.delivery == "at-most-once" else None)
    assert limit is not None, (
        "expected a bound on the deliveries of a task whose process dies every time, declared as "
        "conformance_queue['max_deliveries'] (at-least-once), saw none declared: a poison message is delivered "
        "for ever")
    await handed_over(harness, [{"id": "poison", "gate": "poison"}])
    replacements: list[asyncio.Future[Any]] = []
    kills: list[faults.Killed] = []
    after = -1
    try:
        while True:
            try:
                event = await harness.timeline.wait_for(
                    delivered_or_given_up("poison", after),
                    timeout=spec.redelivery_timeout + harness.timeouts.wait,
                    expected="'poison' delivered again or given up")
            except ExpectationFailed:
                break  # neither: the records say what became of it
            if event.kind == "queue.state":
                break
            assert len(kills) < limit, (
                f"expected 'poison' given up after at most {limit} deliveries (each killed), saw delivery "
                f"{len(kills) + 1} start in {event.get('worker')} (pid {event.get('pid')})")
            after = event.seq
            killed = await asyncio.to_thread(faults.kill_task_process, queue_stack.workers, event.get("pid", -1),
                                             harness.timeouts.wait)
            kills.append(killed)
            harness.timeline.record("task.killed", task="poison", pid=killed.pid, worker=killed.worker)
            if killed.whole_worker:
                replacements.append(replace_worker(queue_stack))
    finally:
        for replacement in replacements:
            await replacement
    observe("poison", f"delivered {len(kills)} times (limit {limit}), each killed")
    records, problems = await faults.settled(spec, str(harness.env.broker_url), harness.env.probe_address, ["poison"],
                                             harness.timeline, harness.timeouts.wait)
    record = records.get("poison")
    assert record is not None and record["state"] in faults.GIVEN_UP and not record.get("queued"), (
        f"expected 'poison' given up after {len(kills)} deliveries (each killed) with a dead-letter or failed "
        f"record (state {' or '.join(faults.GIVEN_UP)}), not left in the broker; saw the record {record}"
        + (f" ({'; '.join(problems)})" if problems else ""))
    await handed_over(harness, functions(["afterwards"]))
    await harness.wait_finished("afterwards")


def end_of(tasks: list[str]) -> Callable[[Event], bool]:
    ends = finished()
    return lambda e: ends(e) and e["task"] in tasks


def started_tasks(harness: Harness) -> dict[str, int]:
    """How many times each task started, in the order of their first starts."""
    counts: dict[str, int] = {}
    for event in harness.timeline.select(started()):
        counts[event["task"]] = counts.get(event["task"], 0) + 1
    return counts


async def everything_settled(harness: Harness, timeout: float, what: str) -> None:
    """Wait until every task that started has ended and then no task starts for the quiet check's time (how many
    tasks will run is not known: some were lost); a failure names the tasks still running after ``timeout``."""
    __tracebackhide__ = True
    deadline = time.monotonic() + timeout
    while True:  # ends: each round needs a further start or end, and the deadline bounds them
        done = Counter(e["task"] for e in harness.timeline.select(finished()))
        running = [task for task, count in started_tasks(harness).items() if count > done[task]]
        left = deadline - time.monotonic()
        if running:
            if left <= 0:
                raise ExpectationFailed(
                    f"expected every task that started to run to its end {what}, saw {running} start and not end "
                    f"within {timeout:g}s; timeline:\n{harness.timeline.format()}")
            try:
                await harness.timeline.wait_for(end_of(running), timeout=left, expected="an end")
            except ExpectationFailed:
                pass
            continue
        last = harness.timeline.events[-1].seq
        try:
            await expect_quiet(harness, start_after(last), "start")
        except ExpectationFailed:
            continue
        return


def prefix_problems(plans: dict[int, list[str]], counts: dict[str, int], lost_allowed: set[int]) -> list[str]:
    """What the starts do against the plans, when tasks may be lost: a task started twice, a task that started
    though one before it in its request never did (it ran without its predecessor), tasks started out of their
    request's order; for a request not in ``lost_allowed``, a task that never started."""
    problems = []
    for n, ids in plans.items():
        twice = {task: counts[task] for task in ids if counts.get(task, 0) > 1}
        if twice:
            problems.append(f"request {n}: {', '.join(f'{t!r} started {c} times' for t, c in twice.items())}")
        ran = [task for task in counts if task in ids]  # in the order of their first starts
        gone = [task for task in ids if task not in counts]
        if n not in lost_allowed and gone:
            problems.append(f"request {n} (handed over after the restart): {gone} never started")
        elif gone and any(ids.index(task) > ids.index(gone[0]) for task in ran):
            after = [task for task in ran if ids.index(task) > ids.index(gone[0])]
            problems.append(f"request {n}: {after} ran though {gone[0]!r} before it was lost (never started)")
        elif ran != [task for task in ids if task in ran]:
            problems.append(f"request {n}: tasks started out of order {ran}")
    return problems


@requirement("DLV-017", MUST)
async def test_a_broker_restarted_empty_runs_nothing_twice_and_loses_nothing_unnamed(
    harness: Harness, queue_stack: QueueStack, observe: Observe
) -> None:
    """When the broker, without persistence, is killed (SIGKILL) and started again empty while the workers are busy
    with tasks and more tasks wait in it, what waited is lost with its data, and nothing else goes wrong: the
    workers and the app carry on by themselves, every task that started runs to its end, no task runs twice, none
    runs when a task before it in its request was lost, every task handed over after the restart runs, and the
    queue's records that survived agree with what ran; the suite names each task lost with the data."""
    spec, server = queue_stack.spec, queue_stack.redis
    plans = held_plans("e")
    before = [task for ids in plans.values() for task in ids]
    probe, gate_timeout = harness.probe, harness.probe.gate_timeout
    probe.gate_timeout = max(gate_timeout, queue_stack.timeout + harness.timeouts.wait)  # held across the restart
    try:
        calls, busy = await hand_over_held(harness, plans)
        await asyncio.to_thread(faults.mark_data, server, harness.timeouts.wait)
        began = time.monotonic()
        await asyncio.to_thread(server.crash, queue_stack.timeout)
        harness.timeline.record("broker.killed", running=busy, persistent=False)
        harness.open("across")  # the running tasks end while the broker is down: their writes must wait for it
        await asyncio.sleep(DOWN)  # how long the broker stays down is the fault injected
        await asyncio.to_thread(server.start, queue_stack.timeout, False)
        away = time.monotonic() - began
        harness.timeline.record("broker.restarted", seconds=round(away, 3), empty=True)
        assert await asyncio.to_thread(faults.lost_data, server, harness.timeouts.wait), (
            f"expected {server.name}, restarted without persistence, to come back empty, saw the key the suite wrote "
            f"before its SIGKILL ({faults.MARK}): the fault was not injected (a dump file in {server.directory}?)")
        later = len(plans)
        plans[later] = ["after.0", "after.1"]  # handed over once it is back: the app carries on too
        calls[later] = await handed_over(harness, functions(plans[later]))
        what = f"after the broker's restart without its data ({away:.2f}s away)"
        try:
            await harness.timeline.wait_for(started("after.1"), timeout=spec.redelivery_timeout
                                            + harness.timeouts.wait, expected="'after.1' to start")
            await everything_settled(harness, spec.redelivery_timeout + harness.timeouts.wait, what)
        except ExpectationFailed as error:
            raise ExpectationFailed(
                f"expected the tasks handed over {what} to run, and every task that started to end, saw: "
                f"{str(error).split('; timeline')[0]}: {_missing(harness, {later: plans[later]})}; timeline:\n"
                f"{harness.timeline.format()}") from None
    finally:
        probe.gate_timeout = gate_timeout
        harness.open("across")
    counts = started_tasks(harness)
    lost = [task for task in before if task not in counts]
    observe("lost_with_the_data", {"count": len(lost), "of": len(before), "tasks": lost})
    observe(f"{QUEUE_SUMMARY}[lost]", f"broker restarted empty (DLV-017): {len(lost)} of {len(before)} tasks lost "
                                      f"with its data: {', '.join(lost) or 'none'}")
    problems = prefix_problems(plans, counts, lost_allowed=set(range(later)))
    assert not problems, (f"expected no task twice and none after a lost one, {what}; saw:\n  "
                          + "\n  ".join(problems[:8]) + f"\n({len(lost)} of {len(before)} tasks lost with the "
                          f"data: {lost})")
    records = await asyncio.to_thread(faults.read_records, spec, str(harness.env.broker_url), harness.env.probe_address)
    kept = [task for task in before if task in records]  # the records that survived (or were written after)
    await reconciled(harness, queue_stack, kept + plans[later], observe,
                     f"{what}; {len(lost)} tasks lost with the data: {lost}")
