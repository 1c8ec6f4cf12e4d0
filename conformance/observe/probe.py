"""The probe: what every background task reports, and the gates it holds on.

A task reports ``task.start`` (with its arguments as received, its thread and whether it runs on
an event loop), optionally holds on a gate the test controls, then reports ``task.end`` or
``task.error``. The same four calls are all a task in another process needs; see
``bgtasks_conformance.observe.remote`` for the loopback link that carries them.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from bgtasks_conformance.observe.gates import Gate
from bgtasks_conformance.observe.timeline import Event, Timeline

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_GATE_TIMEOUT = 10.0


class Probe:
    """Records task events into a timeline and holds tasks on gates that tests open."""

    def __init__(self, timeline: Timeline | None = None, gate_timeout: float = DEFAULT_GATE_TIMEOUT):
        self.timeline = timeline if timeline is not None else Timeline()
        self.gate_timeout = gate_timeout
        self._gates: dict[str, Gate] = {}
        self._all_open = False
        self._lock = threading.Lock()

    # -- gates, for tests -------------------------------------------------------------------
    def gate(self, name: str) -> Gate:
        """The gate called ``name``, created closed if it does not exist yet (open after :meth:`open_all`)."""
        with self._lock:
            if name not in self._gates:
                self._gates[name] = Gate(name)
                if self._all_open:
                    self._gates[name].open()
            return self._gates[name]

    def armed(self, name: str) -> Gate | None:
        with self._lock:
            return self._gates.get(name)

    def open(self, name: str) -> None:
        self.timeline.record("gate.open", gate=name)  # first: the released task records after this
        self.gate(name).open()

    def open_all(self) -> None:
        """Open every gate, and every gate asked for from now on: a task about to wait is not left behind."""
        with self._lock:
            self._all_open = True
            gates = list(self._gates.values())
        for gate in gates:
            gate.open()

    # -- reporting, for tasks ---------------------------------------------------------------
    def started(
        self, task: str, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None, **details: Any
    ) -> Event:
        """``details`` are plain values the task saw (e.g. ``context``), recorded with its start."""
        return self.timeline.record(
            "task.start",
            task=task,
            args=args,
            kwargs=dict(kwargs or {}),
            thread_name=threading.current_thread().name,
            **details,
        )

    def ended(self, task: str) -> Event:
        return self.timeline.record("task.end", task=task)

    def failed(self, task: str, error: BaseException) -> Event:
        return self.timeline.record(
            "task.error", task=task, error=type(error).__name__, message=str(error), exception=error
        )

    def hold(self, gate_name: str | None, *, create: bool = False) -> None:
        """Block this thread on the gate, if the test armed it (or ``create`` is true)."""
        gate = self._gate_to_hold(gate_name, create)
        if gate is not None:
            self.timeline.record("gate.wait", gate=gate.name)
            gate.wait(self.gate_timeout)
            self.timeline.record("gate.pass", gate=gate.name)

    async def hold_async(self, gate_name: str | None, *, create: bool = False) -> None:
        """Wait on the running loop for the gate, if the test armed it (or ``create`` is true)."""
        gate = self._gate_to_hold(gate_name, create)
        if gate is not None:
            self.timeline.record("gate.wait", gate=gate.name)
            await gate.wait_async(self.gate_timeout)
            self.timeline.record("gate.pass", gate=gate.name)

    def _gate_to_hold(self, name: str | None, create: bool) -> Gate | None:
        if name is None:
            return None
        return self.gate(name) if create else self.armed(name)

    # -- instrumenting a target's own task functions ---------------------------------------
    def observed(self, func: F | None = None, *, name: str | None = None) -> Any:
        """Decorate a task function so that it reports to the probe and holds on its gate.

        The gate is the task's name; it holds only if the test armed it. The wrapper keeps the
        function's kind: an ``async def`` stays a coroutine function.
        """

        def decorate(inner: F) -> F:
            task = name or inner.__name__
            if inspect.iscoroutinefunction(inner):

                @functools.wraps(inner)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    self.started(task, args, kwargs)
                    try:
                        await self.hold_async(task)
                        result = await inner(*args, **kwargs)
                    except BaseException as error:
                        self.failed(task, error)
                        raise
                    self.ended(task)
                    return result

                return async_wrapper  # type: ignore[return-value]

            @functools.wraps(inner)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                self.started(task, args, kwargs)
                try:
                    self.hold(task)
                    result = inner(*args, **kwargs)
                except BaseException as error:
                    self.failed(task, error)
                    raise
                self.ended(task)
                return result

            return sync_wrapper  # type: ignore[return-value]

        return decorate(func) if func is not None else decorate
