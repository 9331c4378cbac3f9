"""Accepting connections: ``trio.serve_listeners`` without its per-connection wrapper.

Trio's version runs each handler inside a wrapper coroutine that closes the stream afterwards;
that frame stays alive as long as the connection (about 0.4 KiB each). The server's
``serve_stream`` closes its stream itself, so here each accepted stream goes straight to it.
The rest is trio's behaviour: an ``accept`` failing for lack of resources (file descriptors,
memory) is logged and retried after 100 ms; any other error ends the server.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

import trio

__all__ = ["serve_listeners"]

logger = logging.getLogger("wsframework")

#: What ``accept(2)`` says when the process or the system is out of something: retry later.
CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
RETRY_AFTER = 0.1

StreamHandler = Callable[[trio.abc.Stream], Awaitable[object]]


async def serve_listeners(
    handler: StreamHandler,
    listeners: Sequence[trio.abc.Listener[Any]],
    *,
    handler_nursery: trio.Nursery,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Accept on every listener until cancelled; run ``handler(stream)`` in ``handler_nursery``
    for each connection. ``handler`` must close the stream (even when cancelled). Reports
    ``started`` once every listener accepts; cancel it to stop, which closes the listeners."""
    async with trio.open_nursery() as nursery:
        for listener in listeners:
            nursery.start_soon(_accept_loop, listener, handler, handler_nursery)
        task_status.started()
        await trio.sleep_forever()
    raise AssertionError("unreachable")  # pragma: no cover


async def _accept_loop(
    listener: trio.abc.Listener[Any], handler: StreamHandler, handler_nursery: trio.Nursery
) -> None:
    async with listener:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno not in CAPACITY_ERRNOS:
                    raise
                logger.error(
                    "accept() failed with %s (%s): retrying in %g s",
                    errno.errorcode[exc.errno],
                    os.strerror(exc.errno),
                    RETRY_AFTER,
                )
                await trio.sleep(RETRY_AFTER)
            else:
                handler_nursery.start_soon(handler, stream)
