"""Broken ``BackgroundTasks`` classes: each gets one thing wrong, the way real ones have."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import anyio
from starlette.background import BackgroundTask, BackgroundTasks
from starlette.concurrency import run_in_threadpool


class Reversed(BackgroundTasks):
    """Runs the tasks last-added first."""

    async def __call__(self) -> None:
        for task in reversed(self.tasks):
            await task()


class Concurrent(BackgroundTasks):
    """Runs all tasks at once instead of one after another."""

    async def __call__(self) -> None:
        async with anyio.create_task_group() as group:
            for task in self.tasks:
                group.start_soon(task)


class RunsTwice(BackgroundTasks):
    """Runs every task twice (a retry loop that forgot to stop on success)."""

    async def __call__(self) -> None:
        for task in self.tasks:
            await task()
            await task()


class Snapshot(BackgroundTasks):
    """Iterates over a copy: tasks added while the tasks run are lost."""

    async def __call__(self) -> None:
        for task in list(self.tasks):
            await task()


class DropsKwargs(BackgroundTasks):
    """Keeps the positional arguments only."""

    def add_task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.tasks.append(BackgroundTask(func, *args))


class CopiesArguments(BackgroundTasks):
    """Deep-copies the arguments, as a queue that serialises them would."""

    def add_task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.tasks.append(BackgroundTask(func, *copy.deepcopy(args), **copy.deepcopy(kwargs)))


class _Call(BackgroundTask):
    """A task whose sync/async detection the subclasses get wrong."""

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(func, *args, **kwargs)
        self.is_async = inspect.iscoroutinefunction(func)  # misses partials and async __call__


class MisdetectsAsync(BackgroundTasks):
    """Tells async from sync with ``inspect.iscoroutinefunction`` alone."""

    def add_task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.tasks.append(_Call(func, *args, **kwargs))


class _OnLoop(BackgroundTask):
    async def __call__(self) -> None:
        result = self.func(*self.args, **self.kwargs)  # a sync task blocks the event loop
        if inspect.isawaitable(result):
            await result


class SyncOnLoop(BackgroundTasks):
    """Calls sync tasks directly on the event loop instead of in a worker thread."""

    def add_task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.tasks.append(_OnLoop(func, *args, **kwargs))


class SwallowsErrors(BackgroundTasks):
    """Catches every task's exception and forgets it."""

    async def __call__(self) -> None:
        for task in self.tasks:
            with contextlib.suppress(Exception):
                await task()


class ContinuesAfterError(BackgroundTasks):
    """Runs the remaining tasks after one fails, then raises the first error."""

    async def __call__(self) -> None:
        first: Exception | None = None
        for task in self.tasks:
            try:
                await task()
            except Exception as error:
                first = first or error
        if first is not None:
            raise first


class StartsAtAdd(BackgroundTasks):
    """Starts each task the moment it is added: before the response, racing the endpoint."""

    def add_task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        task = BackgroundTask(func, *args, **kwargs)
        self.running = getattr(self, "running", [])
        self.running.append(asyncio.ensure_future(task()))

    async def __call__(self) -> None:
        for running in getattr(self, "running", []):
            await running


class ReversedArgs(BackgroundTasks):
    """Hands the positional arguments over last first (popped off a stack, never turned back)."""

    def add_task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.tasks.append(BackgroundTask(func, *reversed(args), **kwargs))


class KeepsResults(BackgroundTasks):
    """Keeps every task's return value for later inspection, so a returned coroutine is never awaited,
    never collected, and never warned about."""

    results: ClassVar[list[Any]] = []

    async def __call__(self) -> None:
        for task in self.tasks:
            if task.is_async:
                self.results.append(await task.func(*task.args, **task.kwargs))
            else:
                self.results.append(await run_in_threadpool(task.func, *task.args, **task.kwargs))


class _OwnLoop(BackgroundTask):
    async def __call__(self) -> None:
        if self.is_async:  # a fresh event loop in a worker thread, not the request's loop
            await run_in_threadpool(asyncio.run, self.func(*self.args, **self.kwargs))
        else:
            await super().__call__()


class OwnLoop(BackgroundTasks):
    """Runs each async task with ``asyncio.run`` in a worker thread, on an event loop of its own."""

    def add_task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.tasks.append(_OwnLoop(func, *args, **kwargs))


class _FreshContext(BackgroundTask):
    async def __call__(self) -> None:
        if self.is_async:
            coroutine = self.func(*self.args, **self.kwargs)
            await asyncio.get_running_loop().create_task(coroutine, context=contextvars.Context())
        else:
            await run_in_threadpool(contextvars.Context().run, self.func, *self.args, **self.kwargs)


class FreshContext(BackgroundTasks):
    """Runs every task in a fresh, empty ``contextvars.Context`` instead of a copy of the request's."""

    def add_task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.tasks.append(_FreshContext(func, *args, **kwargs))


class Detached(BackgroundTasks):
    """Hands the tasks to a fire-and-forget asyncio task and returns at once: the request ends, nobody waits."""

    running: ClassVar[set[asyncio.Task[None]]] = set()  # held, so that the event loop's weak reference suffices

    async def __call__(self) -> None:
        job = asyncio.ensure_future(super().__call__())
        self.running.add(job)
        job.add_done_callback(self.running.discard)


class QuitsWhenCancelled(BackgroundTasks):
    """Takes a cancellation as the signal to stop quietly: returns as if every task had run."""

    async def __call__(self) -> None:
        try:
            await super().__call__()
        except asyncio.CancelledError:
            return  # "we are shutting down anyway"


class ContinuesAfterCancel(BackgroundTasks):
    """Goes on with the next task when one is cancelled (a loop that survives anything)."""

    async def __call__(self) -> None:
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task()


__all__ = [
    "Concurrent", "ContinuesAfterCancel", "ContinuesAfterError", "CopiesArguments", "Detached", "DropsKwargs",
    "FreshContext", "KeepsResults", "MisdetectsAsync", "OwnLoop", "QuitsWhenCancelled", "Reversed", "ReversedArgs",
    "RunsTwice", "Snapshot", "StartsAtAdd", "SwallowsErrors", "SyncOnLoop",
]
