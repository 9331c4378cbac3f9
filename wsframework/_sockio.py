"""Reading a Trio socket with fewer scheduler layers than ``SocketStream.receive_some``."""

from __future__ import annotations

import os

import trio

__all__ = ["owns_fd", "receive_now", "receive_some"]


async def receive_some(
    stream: trio.abc.Stream, fd: int, size: int, ready: bool = False
) -> bytes | bytearray:
    """The next bytes from the peer (``b""`` at EOF), at most ``size``.

    On a plain TCP socket (``fd`` >= 0, the socket's descriptor) this is trio's own
    ``SocketStream.receive_some`` without its three coroutine layers and async context manager:
    try ``os.read``, wait for readability only if nothing is there, and take a checkpoint either
    way. ``ready`` says the caller has just waited for readability itself (``wait_readable``,
    so that a reader parked on an idle connection holds no frame of this function): then the
    read takes no further checkpoint. A reader parked here costs about 1 KiB less per idle
    connection than one in ``SocketStream.receive_some``. The file descriptor is only read
    while the socket object still owns it (``fileno()`` is -1 once anyone closed it), so a
    descriptor number reused by another connection is never read. Other streams (TLS, memory)
    are read through ``stream.receive_some``. Cancel as any Trio receive.

    Raises:
        trio.ClosedResourceError: the socket was closed meanwhile.
        OSError: the read failed.
    """
    if fd < 0:
        return await stream.receive_some(size)
    socket = stream.socket  # type: ignore[attr-defined]
    await trio.lowlevel.checkpoint_if_cancelled()
    if socket.fileno() != fd:
        raise trio.ClosedResourceError("the socket was closed")
    try:
        data = os.read(fd, size)
    except BlockingIOError:
        pass
    else:
        if not ready:
            await trio.lowlevel.cancel_shielded_checkpoint()
        return data
    while True:
        await trio.lowlevel.wait_readable(fd)
        if socket.fileno() != fd:
            raise trio.ClosedResourceError("the socket was closed")
        try:
            return os.read(fd, size)
        except BlockingIOError:
            pass


def receive_now(stream: trio.abc.Stream, size: int) -> bytes | None:
    """The bytes a plain TCP socket holds right now, at most ``size`` (``b""`` at EOF or after
    a reset), without waiting and without a checkpoint; ``None`` when it holds nothing yet or
    ``stream`` is not a plain :class:`trio.SocketStream` (TLS, memory)."""
    if not isinstance(stream, trio.SocketStream):
        return None
    try:
        return os.read(stream.socket.fileno(), size)
    except BlockingIOError:
        return None
    except OSError:  # a reset before the request: the peer is gone
        return b""


def owns_fd(stream: trio.abc.Stream, fd: int) -> bool:
    """Whether ``stream`` is a plain socket whose descriptor is still ``fd``: safe to wait on
    with ``trio.lowlevel.wait_readable(fd)`` (once closed, the number may belong to another
    connection)."""
    return fd >= 0 and stream.socket.fileno() == fd  # type: ignore[attr-defined]
