"""serve_listeners: accepting on every listener, handing each stream to the handler."""

from __future__ import annotations

import errno
import logging
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing

from wsframework._listen import serve_listeners


class ScriptedListener(trio.abc.Listener[trio.abc.Stream]):
    """Answers accept() from a script: an OSError to raise or a stream to return; then waits."""

    def __init__(self, script: list[OSError | trio.abc.Stream]) -> None:
        self.script = script
        self.closed = False

    async def accept(self) -> trio.abc.Stream:
        await trio.lowlevel.checkpoint()
        if not self.script:
            await trio.sleep_forever()
        step = self.script.pop(0)
        if isinstance(step, OSError):
            raise step
        return step

    async def aclose(self) -> None:
        self.closed = True
        await trio.lowlevel.checkpoint()


async def test_each_connection_on_every_listener_reaches_the_handler() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    listeners += await trio.open_tcp_listeners(0, host="127.0.0.1")
    ports = [listener.socket.getsockname()[1] for listener in listeners]
    got: list[bytes] = []
    done = trio.Event()

    async def handler(stream: trio.abc.Stream) -> None:
        async with stream:
            got.append(await stream.receive_some(10))
            if len(got) == len(ports):
                done.set()

    async with trio.open_nursery() as nursery:
        await nursery.start(partial(serve_listeners, handler, listeners, handler_nursery=nursery))
        for port in ports:
            client = await trio.open_tcp_stream("127.0.0.1", port)
            await client.send_all(b"hi %d" % port)
            await client.aclose()
        with trio.fail_after(5):
            await done.wait()
        nursery.cancel_scope.cancel()
    assert sorted(got) == sorted(b"hi %d" % port for port in ports)


async def test_running_out_of_descriptors_is_logged_and_retried(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    _left, right = trio.testing.memory_stream_pair()
    listener = ScriptedListener([OSError(errno.EMFILE, "Too many open files"), right])
    served = trio.Event()

    async def handler(stream: trio.abc.Stream) -> None:
        assert stream is right
        served.set()

    with caplog.at_level(logging.ERROR, logger="wsframework"):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                partial(serve_listeners, handler, [listener], handler_nursery=nursery)
            )
            start = trio.current_time()
            await served.wait()
            assert trio.current_time() - start == pytest.approx(0.1)
            nursery.cancel_scope.cancel()
    assert "accept() failed with EMFILE (Too many open files): retrying in 0.1 s" in caplog.text
    assert listener.closed


async def test_any_other_accept_error_ends_the_server() -> None:
    listener = ScriptedListener([OSError(errno.EBADF, "Bad file descriptor")])
    handled: list[Any] = []

    async def handler(stream: trio.abc.Stream) -> None:
        handled.append(stream)  # pragma: no cover - never reached

    bad_fd = pytest.RaisesExc(OSError, match="Bad file descriptor")
    with pytest.RaisesGroup(bad_fd, flatten_subgroups=True):
        async with trio.open_nursery() as nursery:
            await serve_listeners(handler, [listener], handler_nursery=nursery)
    assert not handled and listener.closed
