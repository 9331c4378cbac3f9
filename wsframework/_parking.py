"""A lean ``trio.lowlevel.ParkingLot`` for what every connection waits on.

A parked handler (``get_message`` on an idle connection) is most of what a server holds, so
its cost counts: ParkingLot keeps an ``OrderedDict`` (and a ``statistics`` surface we do not
use), about 0.3 KiB more per connection than the list here. Same contract: tasks wake in the
order they parked, and a cancelled one leaves the line.
"""

from __future__ import annotations

from collections.abc import Awaitable
from functools import partial

import trio
from trio.lowlevel import Abort, Task

__all__ = ["Waiters"]


class Waiters:
    """Tasks waiting for an event someone else signals with :meth:`unpark`.

    ``await waiters.park()`` sleeps until woken (a checkpoint; cancelling it is safe: the task
    leaves the line). Truthy while any task is parked.
    """

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: list[Task] = []

    def __bool__(self) -> bool:
        return bool(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)

    def park(self) -> Awaitable[None]:
        """Sleep until :meth:`unpark` or :meth:`unpark_all` wakes this task: ``await
        waiters.park()``, at once (the task joins the line when this is called).

        Not itself a coroutine: a parked task holds one frame less (most of an idle server is
        parked handlers).
        """
        task = trio.lowlevel.current_task()
        self._tasks.append(task)
        abort = partial(_leave, self._tasks, task)
        return trio.lowlevel.wait_task_rescheduled(abort)  # noqa: ASYNC105 - the caller awaits

    def unpark(self) -> None:
        """Wake the task that parked first, if any."""
        if self._tasks:
            trio.lowlevel.reschedule(self._tasks.pop(0))

    def unpark_all(self) -> None:
        """Wake every parked task."""
        tasks = self._tasks
        while tasks:
            trio.lowlevel.reschedule(tasks.pop(0))


def _leave(tasks: list[Task], task: Task, _: object) -> Abort:
    """A parked task was cancelled: it leaves the line."""
    tasks.remove(task)
    return Abort.SUCCEEDED
