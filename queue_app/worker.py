"""The worker: ``celery -A bgtasks_conformance.queue_app.worker worker`` (the suite starts it, see ``__init__``)."""

from .worker_app import build

app = build()
