"""The load test's engine: many concurrent clients, thousands of requests, every task accounted for.

Request ``n`` adds three to five tasks of rotating callable forms (sync and async), answers JSON or
a stream, and every fourth request has a task that raises (an error or an HTTPException) with
tasks after it. Its first task holds on the gate ``load-n``, which the client opens only once it
has the whole response: a response that waited for its own tasks could never arrive, and times
out naming the request. Nothing is judged by timing.

The run stops sending at the first request that gets no complete response, and after every call
into the app has returned, one pass over the timeline (linear in its length) checks every request.

The clients speak HTTP/1.1 through ``h11`` (the protocol library under httpx's own transport), one
connection per request: httpx would spend most of the run's time in itself (a third of it looking for
the absent ``sniffio`` on every request), and a kept-alive connection dies with uvicorn's close after
a raising task (WIRE-002), which is not this test's subject.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import h11

from bgtasks_conformance.drive.wire import REQUEST_HEADER, Wire, new_request_id
from bgtasks_conformance.observe.timeline import Event, ExpectationFailed
from bgtasks_conformance.target.scenario import FORMS

STREAM_BODY = b"chunk-0\nchunk-1\n"
SHOWN = 8  # problems listed per kind in a failure message


@dataclass(frozen=True)
class RequestPlan:
    """What request ``n`` asks for, and what it must get."""

    n: int
    forms: tuple[str, ...]
    kind: str
    fails_at: int | None  # the position of the task that raises
    fail: str = "error"

    @property
    def ids(self) -> list[str]:
        return [f"r{self.n}.{k}" for k in range(len(self.forms))]

    @property
    def gate(self) -> str:
        return f"load-{self.n}"

    @property
    def must_run(self) -> int:
        """How many tasks must run: up to and including the one that raises."""
        return len(self.forms) if self.fails_at is None else self.fails_at + 1

    def body(self) -> dict[str, Any]:
        tasks: list[dict[str, Any]] = [{"id": task, "form": form} for task, form in zip(self.ids, self.forms,
                                                                                     strict=True)]
        tasks[0]["gate"] = self.gate
        if self.fails_at is not None:
            tasks[self.fails_at]["fail"] = self.fail
        return {"tasks": tasks, "response": {"kind": self.kind, "chunks": 2}}

    def expected_body(self) -> bytes:
        if self.kind == "stream":
            return STREAM_BODY
        return json.dumps({"scheduled": self.ids}, separators=(",", ":")).encode()


def plan_request(n: int) -> RequestPlan:
    count = 3 + n % 3
    forms = tuple(FORMS[(n + k) % len(FORMS)] for k in range(count))
    fails_at = 1 + (n // 4) % (count - 1) if n % 4 == 1 else None
    return RequestPlan(n, forms, "stream" if n % 3 == 2 else "json", fails_at,
                       "http_exception" if (n // 4) % 2 else "error")


@dataclass
class LoadResult:
    """What the load run saw: counts, and the problems found, by the requirement they break."""

    server: str
    requests: int
    concurrency: int
    counts: Counter[str] = field(default_factory=Counter)
    answered: list[str] = field(default_factory=list)  # LOAD-001: a request without its complete response
    delayed: list[str] = field(default_factory=list)  # LOAD-001: a response that waited for its tasks
    accounting: list[str] = field(default_factory=list)  # LOAD-002: a task not run exactly once, or out of order
    ran_after_failure: list[str] = field(default_factory=list)  # LOAD-003: a task after a raising one that ran
    slow: list[str] = field(default_factory=list)  # only a time bound missed while the run still progressed
    seconds: float = 0.0

    def summary(self) -> str:
        shown = ", ".join(f"{key} {value}" for key, value in sorted(self.counts.items()))
        return (f"{self.server}: {self.requests} requests, {self.concurrency} at once, in {self.seconds:.2f}s; "
                f"{shown}")

    def headline(self) -> str:
        """The counts that matter, in one line."""
        c = self.counts
        problems = len(self.answered) + len(self.delayed) + len(self.accounting) + len(self.ran_after_failure)
        return (f"{self.server}: {c['responses_received']}/{self.requests} requests answered in {self.seconds:.2f}s, "
                f"{c['most_requests_in_flight']} in flight at most; tasks: {c['tasks_planned']} planned, "
                f"{c['tasks_that_must_run']} must run, {c['tasks_started']} started, {c['tasks_ended']} ended, "
                f"{c['tasks_raised']} raised, {c['tasks_after_a_raising_task_that_ran']} of "
                f"{c['tasks_after_a_raising_task_planned']} after a raising one ran; {problems} problems")

    def explain(self, problems: list[str], expected: str, seen: str) -> str:
        """A failure message: what was expected, then the problems seen (the first few), then the counts."""
        listed = "\n  ".join(problems[:SHOWN]) + (f"\n  ... {len(problems) - SHOWN} more" if len(problems) > SHOWN
                                                   else "")
        return f"expected {expected}; saw {len(problems)} {seen}:\n  {listed}\n{self.summary()}"


class LoadRun:
    """Sends the requests through ``wire`` and accounts for every task."""

    def __init__(self, wire: Wire, requests: int, concurrency: int, timeout: float) -> None:
        self.wire = wire
        self.timeline = wire.timeline
        self.timeout = timeout
        self.result = LoadResult(wire.kind, requests, min(concurrency, requests))
        self.plans = [plan_request(n) for n in range(requests)]
        self.by_call: dict[int, RequestPlan] = {}
        self._next = iter(range(requests))
        self._stop = False
        self._in_flight = 0
        self._opened_unanswered: set[int] = set()  # gates the settling opened before their response came

    async def run(self) -> LoadResult:
        started = time.monotonic()
        workers = [asyncio.ensure_future(self._worker()) for _ in range(self.result.concurrency)]
        try:
            await asyncio.wait_for(asyncio.gather(*workers), self.timeout)
        except TimeoutError:  # slowness, unless the accounting finds a response withheld while its task ran
            self._stop = True
            self.result.slow.append(f"the load did not finish within {self.timeout:g}s (--bgtasks-load-timeout): "
                                    f"{len(self.by_call)} of {self.result.requests} requests sent, the run still "
                                    "progressing; on a busy machine raise --bgtasks-load-timeout "
                                    "(or lower --bgtasks-load-requests)")
        await self._settle()
        self.result.seconds = time.monotonic() - started
        self._account()
        return self.result

    async def _worker(self) -> None:
        for n in self._next:
            if self._stop:
                return
            await self._send(self.plans[n])

    async def _send(self, plan: RequestPlan) -> None:
        call = new_request_id()
        self.by_call[call] = plan
        self._in_flight += 1
        self.result.counts["most_requests_in_flight"] = max(self.result.counts["most_requests_in_flight"],
                                                            self._in_flight)
        wait = self.wire.harness.timeouts.wait
        body = json.dumps(plan.body()).encode()
        try:
            status, content = await self._answer(post(self.wire.server.port, "/scenario", body, call), wait)
        except (TimeoutError, OSError, h11.ProtocolError) as error:
            self._stop = True
            why = (f"within {wait:g}s; its first task holds until the client has the whole response, so a "
                   "response that waits for its tasks never comes") if isinstance(error, TimeoutError) else \
                f"{type(error).__name__}: {error}"
            self.result.answered.append(f"request {plan.n} (#{call}): no complete response {why}")
            return
        finally:
            self._in_flight -= 1
        self.timeline.record("client.response", request=call, status=status)
        self.wire.harness.open(plan.gate)  # only now may its first task go on
        if (status, content) != (200, plan.expected_body()):
            self.result.answered.append(f"request {plan.n} (#{call}): {status} {content!r}, "
                                        f"expected 200 {plan.expected_body()!r}")

    async def _answer(self, request: Any, wait: float) -> tuple[int, bytes]:
        """The response. Past ``wait`` it is waited for again while the run progresses (a busy machine is slow, not
        wrong); when nothing at all happened for ``wait`` seconds the app is stuck: :class:`TimeoutError`."""
        pending = asyncio.ensure_future(request)
        try:
            while True:
                seen = len(self.timeline.events)
                try:
                    return await asyncio.wait_for(asyncio.shield(pending), wait)
                except TimeoutError:
                    if len(self.timeline.events) == seen or self._stop:  # nothing moved: a stall, not slowness
                        raise
                    self.result.counts["response_waits_extended"] += 1  # a measurement: how busy the machine was
        finally:
            pending.cancel()

    async def _settle(self) -> None:
        """Release every gate, wait for every call into the app, then for every task that must run to finish."""
        for plan in self.by_call.values():  # also those not waited on yet: a gate opened first never holds
            if not self.wire.harness.probe.gate(plan.gate).is_open:
                self._opened_unanswered.add(plan.n)  # a response after this proves nothing about holding back
                self.wire.harness.open(plan.gate)
        wait = self.wire.harness.timeouts.wait
        if not await self.wire.calls.wait_idle(wait):
            self.result.answered.append(f"{self.wire.calls.started - self.wire.calls.returned} calls into the app "
                                        f"had not returned {wait:g}s after the last response")
        must = sum(plan.must_run for plan in self.by_call.values())
        try:  # after the calls returned this is one look, unless a target runs its tasks detached
            await self.timeline.wait_for_count(lambda e: e.kind in ("task.end", "task.error"), must, timeout=wait,
                                               expected=f"the {must} tasks that must run to finish")
        except ExpectationFailed:
            pass  # the accounting below names the missing ones

    def _account(self) -> None:
        """One pass over the timeline, then every request checked against its plan."""
        starts: dict[int, list[int]] = defaultdict(list)
        finishes: dict[str, list[Event]] = defaultdict(list)
        seq: dict[tuple[str, int], int] = {}
        counts = self.result.counts
        for event in self.timeline.events:
            counts[f"events.{event.kind}"] += 1
            if event.kind == "task.start" and (task := _task(event["task"])) is not None:
                starts[task[0]].append(task[1])
            elif event.kind in ("task.end", "task.error"):
                finishes[event["task"]].append(event)
            elif event.kind == "client.response" and event["request"] in self.by_call:
                seq[("response", self.by_call[event["request"]].n)] = event.seq
            elif event.kind == "gate.open" and event["gate"].startswith("load-"):
                seq[("open", int(event["gate"].removeprefix("load-")))] = event.seq
        counts["requests_sent"] = len(self.by_call)
        counts["calls_into_the_app"] = self.wire.calls.started
        counts["most_calls_in_progress"] = self.wire.calls.most_in_progress
        for plan in self.by_call.values():
            self._check(plan, starts.get(plan.n, []), finishes, seq)

    def _check(self, plan: RequestPlan, started: list[int], finishes: dict[str, list[Event]],
               seq: dict[tuple[str, int], int]) -> None:
        result, counts, ids = self.result, self.result.counts, plan.ids
        counts["tasks_planned"] += len(ids)
        counts["tasks_that_must_run"] += plan.must_run
        counts["tasks_started"] += len(started)
        counts["requests_with_a_raising_task"] += plan.fails_at is not None
        if ("response", plan.n) not in seq:
            return  # no complete response: a problem of its own (a stall), or slowness (result.slow)
        counts["responses_received"] += 1
        first = finishes.get(ids[0], [])
        held = plan.n not in self._opened_unanswered  # its gate was the client's to open
        if held and first and first[0].seq < seq[("open", plan.n)]:  # it held on a gate the client opened only after
            result.delayed.append(f"request {plan.n}: the response arrived only after its first task ({ids[0]}) "
                                  f"had finished, without its gate: {first[0].describe()}")
        must = list(range(plan.must_run))
        if started[:plan.must_run] != must or started != sorted(set(started)):
            result.accounting.append(f"request {plan.n}: tasks started {[ids[k] for k in started]}, expected "
                                     f"{[ids[k] for k in must]} each once in that order (then at most the rest, once, "
                                     f"in order)")
        for k in must:
            outcome = [e.kind for e in finishes.get(ids[k], [])]
            planned = "task.error" if k == plan.fails_at else "task.end"
            counts["tasks_raised" if planned == "task.error" else "tasks_ended"] += outcome == [planned]
            if outcome != [planned]:
                result.accounting.append(f"request {plan.n}: task {ids[k]} finished {outcome or 'never'}, "
                                         f"expected once with {planned}")
        after = [ids[k] for k in started if k >= plan.must_run]
        counts["tasks_after_a_raising_task_planned"] += len(ids) - plan.must_run
        counts["tasks_after_a_raising_task_that_ran"] += len(after)
        if after:
            result.ran_after_failure.append(f"request {plan.n}: {after} ran after {ids[plan.must_run - 1]} raised")


async def post(port: int, path: str, body: bytes, call: int) -> tuple[int, bytes]:
    """``POST path`` with a JSON body to 127.0.0.1:``port`` on a connection of its own: (status, whole body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    connection = h11.Connection(h11.CLIENT)
    headers = [("host", f"127.0.0.1:{port}"), ("content-type", "application/json"),
               ("content-length", str(len(body))), ("connection", "close"), (REQUEST_HEADER, str(call))]
    try:
        writer.write(connection.send(h11.Request(method="POST", target=path, headers=headers)))
        writer.write(connection.send(h11.Data(data=body)))
        writer.write(connection.send(h11.EndOfMessage()))
        status, chunks = 0, []
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                connection.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return status, b"".join(chunks)
    finally:
        writer.close()


def _task(task: str) -> tuple[int, int] | None:
    """``r12.3`` -> (12, 3); None for a task that is not the load's."""
    n, _, k = task.removeprefix("r").partition(".")
    return (int(n), int(k)) if n.isdigit() and k.isdigit() else None


async def run_load(wire: Wire, requests: int, concurrency: int, timeout: float) -> LoadResult:
    return await LoadRun(wire, requests, concurrency, timeout).run()


__all__ = ["LoadResult", "RequestPlan", "plan_request", "run_load"]
