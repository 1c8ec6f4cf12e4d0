"""What every worker of the queue app is: ``build()`` makes its Celery app; ``worker.py`` is the one to start.

It knows one task, ``bgtasks.call``, which runs a named importable function. It reports to the probe
what the queue does: that it is ready (to ``BGTASKS_PROBE``, the suite's session probe), and, for the
scenario's tasks, the state Celery recorded for each (``queue.state``: SUCCESS, FAILURE, DEAD) to that
test's probe. Around each task:

- the delivery id (Celery's task id, the same on every delivery of the task) goes with its start;
- a delivery of a task that has already succeeded is dropped (a duplicate, recognised by its id);
- a task delivered more than ``max_deliveries`` times (its process died each time) is given up: recorded
  DEAD, put on the dead-letter list, acknowledged, and the rest of its chain is not published;
- while it runs, the worker's heartbeat (:func:`keep_visible`, in the worker's main process) marks its
  message as alive, so that Redis's visibility timeout delivers again only the messages of a dead worker.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

import redis
from celery import Celery, signals
from celery.exceptions import Ignore
from celery.worker import state as worker_state

from bgtasks_conformance.observe.remote import ENV_VAR, RemoteProbe
from bgtasks_conformance.target import named
from bgtasks_conformance.target.queue import BROKER_VAR, WORKER_VAR

from . import records
from .celery_app import HEARTBEAT, MAX_DELIVERIES, TASK, UNACKED_INDEX, call, configure
from .lease import Lease


def build(acks_late: bool = True, *, heartbeat: bool = True, max_deliveries: int | None = MAX_DELIVERIES,
          same_delivery_id: bool = True, patient: bool = True, records_at_run: bool = False,
          deadline: float | None = None, dedupe: bool = True) -> Celery:
    """The worker's app; the keywords switch off what the gallery's broken workers lack (``records_at_run``: the
    worker, not the hand-over, records which task a queue id is; ``deadline``: after its work, a task marks itself
    done in Redis within that many seconds, once, or fails; ``dedupe``: the delivery id's lease, see :mod:`.lease`)."""
    broker_url = os.environ[BROKER_VAR]
    app = configure(Celery("bgtasks-worker"), broker_url, acks_late=acks_late, patient=patient)
    app.conf.update(bgtasks_heartbeat=heartbeat)

    @app.task(name=TASK, bind=True, shared=False)  # this app's own: the gallery builds several in one module
    def run(self: Any, name: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        info = self.request.delivery_info or {}
        plan = args[0] if args and isinstance(args[0], dict) and "probe" in args[0] else None
        if plan is not None and records_at_run:
            records.handed(broker_url, [(self.request.id, plan)])
        held = admit(self, plan, broker_url, max_deliveries, dedupe) if plan is not None else None
        queue_id = self.request.id if same_delivery_id else uuid.uuid4().hex
        settled = None
        try:
            with named.delivery(queue_id=queue_id, redelivered=bool(info.get("redelivered"))):
                call(name, args, kwargs)
            if deadline is not None:
                records.mark_done(broker_url, self.request.id, deadline)
            settled = "SUCCESS"
        except Exception:
            settled = "FAILURE"
            raise
        finally:
            if held is not None:
                held.release(settled)

    return app


def admit(task: Any, plan: dict[str, Any], broker_url: str, max_deliveries: int | None,
          dedupe: bool = True) -> Lease | None:
    """The lease to run this delivery under (None without ``dedupe``); raise :class:`Ignore` (the message is
    acknowledged, nothing runs) for a duplicate of a task that has run, and for one delivered too often, which is
    given up."""
    queue_id = task.request.id
    if task.backend.get_task_meta(queue_id).get("status") == "SUCCESS" or records.is_dead(broker_url, queue_id):
        raise Ignore()  # a duplicate: its delivery id says it has run
    held = Lease(broker_url, queue_id) if dedupe else None
    if held is not None and not held.acquire():
        raise Ignore()  # it settled while this copy waited for the running one
    count = records.delivered(broker_url, queue_id)
    if max_deliveries is not None and count > max_deliveries:
        task.update_state(state="DEAD", meta={"deliveries": count - 1, "reason": "its process died each time"})
        records.dead_letter(broker_url, queue_id)
        report(plan, "DEAD", queue_id)
        if held is not None:
            held.release("DEAD")
        raise Ignore()
    return held


def report(plan: dict[str, Any], state: str | None, queue_id: str) -> None:
    try:
        named.probe_at(plan["probe"]).record("queue.state", task=plan["id"], state=state, queue_id=queue_id,
                                             worker=os.environ.get(WORKER_VAR, ""))
    except (OSError, EOFError):  # that test's probe is gone: nobody to tell
        pass


def keep_visible(broker_url: str, stop: threading.Event) -> None:
    """Every HEARTBEAT seconds, mark the messages this worker holds (running or reserved) as delivered now."""
    client = redis.Redis.from_url(broker_url, socket_timeout=2 * HEARTBEAT, socket_connect_timeout=2 * HEARTBEAT)
    while not stop.wait(HEARTBEAT):
        try:
            tags = [request.message.delivery_tag for request in list(worker_state.reserved_requests)]
        except RuntimeError:  # the set changed while it was read: next beat
            continue
        if tags:
            try:
                client.zadd(UNACKED_INDEX, dict.fromkeys(tags, time.time()), xx=True)  # xx: never re-add an acked one
            except redis.RedisError:  # the broker is away: its sweep is too
                pass


_stop = threading.Event()


@signals.worker_ready.connect
def report_ready(sender: Any = None, **_: Any) -> None:
    app = getattr(sender, "app", None)
    if app is not None and app.conf.get("bgtasks_heartbeat"):
        threading.Thread(target=keep_visible, args=(app.conf.broker_url, _stop), name="bgtasks-heartbeat",
                         daemon=True).start()
    if os.environ.get(ENV_VAR):
        probe = RemoteProbe()
        probe.record("worker.ready", worker=os.environ.get(WORKER_VAR, ""), pid=os.getpid())
        probe.close()


@signals.worker_shutdown.connect
def stop_heartbeat(**_: Any) -> None:
    _stop.set()


@signals.task_postrun.connect
def report_state(task_id: str, args: Any = None, state: str | None = None, **_: Any) -> None:
    """The state the queue recorded for a scenario task (its plan is the function's first argument)."""
    plan = args[1][0] if args and len(args) > 1 and args[1] and isinstance(args[1][0], dict) else None
    if plan and "probe" in plan and state in ("SUCCESS", "FAILURE"):  # not a dropped duplicate (IGNORED)
        report(plan, state, task_id)
