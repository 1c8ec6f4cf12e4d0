"""A worker that acknowledges each message as it receives it, before the work (Celery's default, early ack)."""

from .worker import build

app = build(acks_late=False)
