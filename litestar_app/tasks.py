"""The request's own background tasks, for Litestar: ``add_task`` collects, the response runs them.

Litestar attaches tasks to the response (``Response(background=BackgroundTasks([...]))``); there is
no object injected into the endpoint. :class:`Tasks` is one per request: ``add_task(func, *args,
**kwargs)`` wraps each call in Litestar's ``BackgroundTask``, in order, and ``background`` hands them
to Litestar's ``BackgroundTasks``, which runs them one after the other once the response is sent.
A task added while the tasks run (a plan's ``add``) joins the same list and runs after them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.background_tasks import BackgroundTask, BackgroundTasks


class Tasks:
    def __init__(self) -> None:
        self._tasks: list[BackgroundTask] = []
        self.background = BackgroundTasks(self._tasks)

    def add_task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._tasks.append(BackgroundTask(func, *args, **kwargs))
