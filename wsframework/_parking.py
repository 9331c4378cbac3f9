"""A lean ``trio.lowlevel.ParkingLot`` for what every connection waits on.

A parked handler (``get_message`` on an idle connection) is most of what a server holds, so
its cost counts: ParkingLot keeps an ``OrderedDict`` (and a ``statistics`` surface we do not
use), about 0.3 KiB more per connection than the list here. Same contract: tasks wake in the
order they parked, and a cancelled one leaves the line.
"""

from __future__ import annotations

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

    async def park(self) -> None:
        """Sleep until :meth:`unpark` or :meth:`unpark_all` wakes this task."""
        task = trio.lowlevel.current_task()
        tasks = self._tasks
        tasks.append(task)

        def abort(_: object) -> Abort:
            tasks.remove(task)
            return Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    def unpark(self) -> None:
        """Wake the task that parked first, if any."""
        if self._tasks:
            trio.lowlevel.reschedule(self._tasks.pop(0))

    def unpark_all(self) -> None:
        """Wake every parked task."""
        tasks = self._tasks
        while tasks:
            trio.lowlevel.reschedule(tasks.pop(0))
