"""receive_some (wsframework._sockio): trio's socket read without its layers, over real sockets."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from wsframework._sockio import owns_fd, receive_now, receive_some


async def connected_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    a, b = trio.socket.socketpair()
    return trio.SocketStream(a), trio.SocketStream(b)


@pytest.mark.parametrize("ready", [False, True])
async def test_bytes_already_there_are_returned(ready: bool) -> None:
    left, right = await connected_pair()
    async with left, right:
        await right.send_all(b"hello")
        got = await receive_some(left, left.socket.fileno(), 100, ready)
        assert got == b"hello"


@pytest.mark.parametrize("ready", [False, True])
async def test_a_read_waits_for_bytes_to_arrive(ready: bool) -> None:
    left, right = await connected_pair()
    got: list[bytes | bytearray] = []
    async with left, right, trio.open_nursery() as nursery:

        async def read() -> None:
            got.append(await receive_some(left, left.socket.fileno(), 100, ready))

        nursery.start_soon(read)
        await trio.testing.wait_all_tasks_blocked()
        assert got == []
        await right.send_all(b"late")
    assert got == [b"late"]


async def test_eof_and_a_closed_socket() -> None:
    left, right = await connected_pair()
    fd = left.socket.fileno()
    await right.aclose()
    assert await receive_some(left, fd, 100, True) == b""
    await left.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await receive_some(left, fd, 100, True)


async def test_receive_now_never_waits() -> None:
    left, right = await connected_pair()
    async with left, right:
        assert receive_now(left, 100) is None  # nothing there yet
        await right.send_all(b"early")
        assert receive_now(left, 100) == b"early"
        await right.aclose()
        assert receive_now(left, 100) == b""  # EOF


async def test_receive_now_leaves_other_streams_to_their_own_reads() -> None:
    left, right = trio.testing.memory_stream_pair()
    await right.send_all(b"held")
    assert receive_now(left, 100) is None
    assert await left.receive_some(100) == b"held"


async def test_owns_fd_is_false_once_the_socket_closed_and_for_other_streams() -> None:
    left, right = await connected_pair()
    fd = left.socket.fileno()
    assert owns_fd(left, fd)
    await left.aclose()
    await right.aclose()
    assert not owns_fd(left, fd)
    memory, _other = trio.testing.memory_stream_pair()
    assert not owns_fd(memory, -1)
