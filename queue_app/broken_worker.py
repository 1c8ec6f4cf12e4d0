"""A worker that acknowledges each message as it takes it, before the work (Celery's default, early ack)."""

from .worker_app import build

app = build(acks_late=False)
