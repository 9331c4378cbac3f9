"""Admission control (wsframework.admission): connection limits per IP, the handshake rate, the
503 answer and its rate-limited log line, through the test client (the global limit over
loopback sockets is in tests/integration/test_admission_sockets.py)."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

import pytest
import trio
import trio.testing

from wsframework import ConnectionRejected, ServerOptions
from wsframework.admission import LOG_EVERY, Admission
from wsframework.testing import TestClient

from .sample_apps import echo_app

CLIENT = ("203.0.113.7", 41000)


async def refused(client: TestClient) -> ConnectionRejected:
    with pytest.raises(ConnectionRejected) as caught:
        async with client.websocket("/echo"):
            pytest.fail("a handshake over the limit was accepted")
    return caught.value


async def test_connections_per_ip_over_the_limit_get_503_with_retry_after() -> None:
    options = ServerOptions(max_connections_per_ip=2)
    async with TestClient(echo_app("/echo"), client=CLIENT, server_options=options) as client:
        async with AsyncExitStack() as stack:
            for _ in range(2):
                ws = await stack.enter_async_context(client.websocket("/echo"))
                await ws.send_message("hi")
                assert await ws.get_message() == "hi"
            refusal = await refused(client)
            assert refusal.status_code == 503
            assert (b"retry-after", b"5") in refusal.headers
            assert refusal.body == (
                b"Too many connections from 203.0.113.7 (limit 2); try again in 5 s.\n"
            )
            # Plain HTTP is not limited.
            assert (await client.get("/ping")).text == "pong"
        # The slots are given back when the connections end.
        async with client.websocket("/echo") as ws:
            await ws.send_message("again")
            assert await ws.get_message() == "again"


async def test_handshake_rate_refills_with_time(autojump_clock: trio.testing.MockClock) -> None:
    options = ServerOptions(handshake_rate=2, handshake_burst=3)
    async with TestClient(echo_app("/echo"), client=CLIENT, server_options=options) as client:
        for _ in range(3):  # the burst
            async with client.websocket("/echo"):
                pass
        refusal = await refused(client)
        assert refusal.status_code == 503
        assert (b"retry-after", b"1") in refusal.headers
        assert b"Too many handshakes (limit 2 per second)" in refusal.body
        await trio.sleep(0.5)  # one token back at 2 per second
        async with client.websocket("/echo"):
            pass
        assert (await refused(client)).status_code == 503


async def test_refusals_are_logged_once_per_interval(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    options = ServerOptions(max_connections=1)
    caplog.set_level(logging.WARNING, logger="wsframework")
    async with (
        TestClient(echo_app("/echo"), client=CLIENT, server_options=options) as client,
        client.websocket("/echo"),
    ):
        for _ in range(4):
            await refused(client)
        lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert lines == [
            "refused a handshake from 203.0.113.7 with 503: "
            "The server is at its limit of 1 connections"
        ]
        await trio.sleep(LOG_EVERY)
        await refused(client)
        lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert len(lines) == 2
        assert lines[1].endswith("(3 more refused since the last report)")


async def test_a_refusal_takes_no_slot_and_no_token() -> None:
    admission = Admission(ServerOptions(max_connections_per_ip=1, handshake_rate=1))
    assert admission.admit("198.51.100.1") is None
    refusal = admission.admit("198.51.100.1")
    assert refusal is not None and refusal.retry_after == 5
    assert (admission.open, admission.per_ip) == (1, {"198.51.100.1": 1})
    admission.release("198.51.100.1")
    assert (admission.open, admission.per_ip) == (0, {})
    # The one token went to the first handshake; the refused one took none, nor a slot.
    refusal = admission.admit("198.51.100.2")
    assert refusal is not None and refusal.retry_after == 1
    assert admission.open == 0


async def test_no_limit_means_no_bookkeeping() -> None:
    admission = Admission(ServerOptions())
    assert not admission.active
    assert all(admission.admit("192.0.2.1") is None for _ in range(1000))


async def test_without_an_address_only_the_global_limits_apply() -> None:
    options = ServerOptions(max_connections_per_ip=1)
    async with (
        TestClient(echo_app("/echo"), client=None, server_options=options) as client,
        client.websocket("/echo"),
        client.websocket("/echo") as ws,
    ):
        await ws.send_message("two")
        assert await ws.get_message() == "two"
