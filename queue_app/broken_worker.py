"""The gallery's broken workers: ``celery -A bgtasks_conformance.queue_app.broken_worker:NAME worker``.

Each lacks one thing the reference's worker does.
"""

from .worker_app import build

app = build(acks_late=False)  # acknowledges each message as it takes it, before the work (Celery's default, early ack)
no_heartbeat = build(heartbeat=False, dedupe=False)  # the visibility timeout alone: a task longer than it runs twice
fresh_delivery_id = build(same_delivery_id=False)  # a new id on every delivery: a duplicate cannot be recognised
records_at_run = build(records_at_run=True)  # which task a queue id is, written only when a worker runs it
impatient = build(patient=False)  # result writes and the chain's next publish give up at once when Redis is away
no_dead_letter = build(max_deliveries=None)  # a task whose process dies every time is delivered for ever
short_timeouts = build(deadline=1.0)  # marks each task done within a second, or fails it: a paused broker fails tasks
