"""The queue tier's engine-independent parts added for a second engine: the serializer declaration, the second
reference of the queue self-check, and the workers' output in failure messages."""

from __future__ import annotations

import dataclasses
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from bgtasks_conformance.queue import worker_logs
from bgtasks_conformance.queue.processes import Child
from bgtasks_conformance.selfcheck import (
    DEFAULT_GALLERY,
    QUEUE_GALLERY,
    SECOND_REFERENCES,
    default_second_references,
    second_reference_jobs,
)
from bgtasks_conformance.target.queue import QueueSpec, parse_queue


def test_the_serializer_is_declared_json_by_default_or_pickle() -> None:
    assert parse_queue({"worker": ["w"]}).serializer == "json"
    assert parse_queue({"worker": ["w"], "serializer": "pickle"}).serializer == "pickle"


def test_an_unknown_serializer_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"'serializer'\] is one of json, pickle .*not 'msgpack'"):
        parse_queue({"worker": ["w"], "serializer": "msgpack"})


def test_the_queue_gallery_has_rq_app_as_its_second_reference_in_the_references_tier() -> None:
    assert default_second_references(QUEUE_GALLERY, ("--bgtasks-queue",)) == [
        "bgtasks_conformance.rq_app:create_app"]
    assert default_second_references(DEFAULT_GALLERY, ()) == list(SECOND_REFERENCES)
    assert default_second_references(DEFAULT_GALLERY, ("--bgtasks-queue",)) == []
    assert default_second_references("other:GALLERY", ()) == []
    jobs, notes = second_reference_jobs(["bgtasks_conformance.rq_app:create_app"], ("--bgtasks-queue",), "asgi")
    assert [(job.name, job.options) for job in jobs] == [
        ("reference rq_app", ("--bgtasks-tier", "asgi", "--bgtasks-queue"))] and notes == []


def test_the_rq_app_declares_what_rq_does_by_default() -> None:
    from bgtasks_conformance.rq_app import create_app

    spec: QueueSpec = create_app.conformance_queue  # type: ignore[attr-defined]
    assert (spec.serializer, spec.delivery, spec.after_failure) == ("pickle", "at-most-once", "stop")
    assert dataclasses.replace(spec, serializer="json") != spec


def printing(name: str, log: Path, text: str) -> Child:
    """A real child process that prints ``text`` and ends; its output drained to ``log``."""
    ended = threading.Event()
    child = Child(name, [sys.executable, "-c", f"print({text!r}, end='')"], log, {}, log.parent,
                  on_exit=lambda _: ended.set())
    assert ended.wait(30), f"expected {name} to end within 30s"
    child.wait(10)
    return child


def test_a_failure_message_ends_with_what_each_worker_wrote_since_the_mark(tmp_path: Path) -> None:
    first = printing("worker1", tmp_path / "worker1.log", "booting\nready\n")
    stack = SimpleNamespace(workers=SimpleNamespace(ended=[first], running={}), extra=[], directory=tmp_path)
    marked = worker_logs.marks(stack)
    second = printing("worker2", tmp_path / "worker2.log", "".join(f"job {n}\n" for n in range(9)) + "x" * 300)
    stack.workers.ended.append(second)
    error = AssertionError("expected 'a' to start, saw nothing")
    worker_logs.append_to(error, worker_logs.since(stack, marked))
    lines = str(error).splitlines()
    assert lines[0] == "expected 'a' to start, saw nothing"
    assert lines[1] == (f"worker output since the test began (the last 6 lines of each; the files are in {tmp_path}):")
    assert lines[2] == f"  worker1 (pid {first.pid}, ended, exit 0): nothing"
    assert lines[3] == f"  worker2 (pid {second.pid}, ended, exit 0, 4 earlier lines left out):"
    assert lines[4:] == [f"  worker2| job {n}" for n in range(4, 9)] + ["  worker2| " + "x" * 200 + " ..."]


def test_an_error_without_a_plain_message_gets_the_output_as_a_note() -> None:
    error = KeyError("a", "b")
    worker_logs.append_to(error, "worker output ...")
    assert error.__notes__ == ["worker output ..."] and error.args == ("a", "b")
