"""Rooms across two real worker processes and a real Redis, under both runners (see
``test_rooms_workers.py``): Redis restarting under them, a client recovering what it missed
with ``since=``, and a member that stops reading while the others keep up.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from functools import partial

import pytest
import trio

from wsframework.exceptions import ConnectionClosed

from . import rooms_workers_helpers
from .rooms_app import SLOW_QUEUE
from .rooms_workers_helpers import (
    IGNORE_COREDIS_STREAMS,
    Workers,
    connect,
    connect_on_both,
    observer,
    publish,
)

workers = rooms_workers_helpers.workers  # the fixture, once per runner

#: The slow-member test: publications of this size, this many at a time.
PAYLOAD = "x" * (64 << 10)
BATCH = 8
MAX_BATCHES = 40
#: Seconds a batch may take to reach the members that do read...
ON_TIME = 3.0
#: ...and the whole flood.
READING = 30.0


@IGNORE_COREDIS_STREAMS
async def test_delivery_resumes_on_both_workers_after_redis_restarts(workers: Workers) -> None:
    room = "chat:restart"
    async with AsyncExitStack() as stack:
        broker, recorder = await stack.enter_async_context(observer(workers.redis.url))
        clients = await connect_on_both(stack, workers, room)

        await trio.to_thread.run_sync(workers.redis.restart)  # an empty Redis on the same port

        # Every worker resubscribed: the app tells each of its connections (on_restored).
        for client in clients:
            await client.until(lambda m: m["type"] == "restored")
        await recorder.wait(lambda: recorder.restored >= 1)
        assert recorder.lost >= 1
        # Presence came back with the subscriptions (the data went with the old server).
        assert sorted(m.connection_id for m in await broker.members(room)) == sorted(
            c.connection_id for c in clients
        )
        await publish(broker, room, "after-restart")
        senders = {c.node: c for c in clients}
        expected = ["after-restart"]
        for sender in senders.values():
            await sender.ws.send_message(f"again-{sender.user}")
            await sender.until_data(f"again-{sender.user}")
            expected.append(f"again-{sender.user}")
        await publish(broker, room, "end")
        for client in clients:
            await client.until_data("end")
            assert client.data == [*expected, "end"], client


async def test_a_client_recovers_what_it_missed_from_the_other_worker(workers: Workers) -> None:
    room = "history:recover"
    async with AsyncExitStack() as stack:
        clients = await connect_on_both(stack, workers, room)
        away = clients[0]
        writer = next(c for c in clients if c.node != away.node)

        await writer.ws.send_message("seen")
        last = (await away.until_data("seen"))["position"]
        await away.ws.aclose()

        missed = [f"missed-{i}" for i in range(3)]
        positions = []
        for text in missed:
            await writer.ws.send_message(text)
            positions.append((await writer.until_data(text))["position"])
        epoch, _, offset = last.rpartition(":")
        assert positions == [f"{epoch}:{int(offset) + i}" for i in (1, 2, 3)]

        back = await connect(stack, workers, room, away.user, since=last)
        assert back.hello["recovered"] is True
        assert back.hello["position"] == positions[-1]
        await writer.ws.send_message("live")
        await back.until_data("live")
        assert back.data == [*missed, "live"]  # what it missed, in order, once; then live
        recovered = [m for m in back.seen if m["type"] == "message"][:3]
        assert [m["position"] for m in recovered] == positions
        assert {m["origin"] for m in recovered} == {writer.node}


async def test_a_member_that_stops_reading_is_closed_the_others_keep_up(
    workers: Workers,
) -> None:
    room = "slow:flood"
    async with AsyncExitStack() as stack:
        broker, _ = await stack.enter_async_context(observer(workers.redis.url))
        clients = await connect_on_both(stack, workers, room, on_one=2)
        # The slow member shares its worker with a member that reads.
        slow = next(c for c in clients if sum(d.node == c.node for d in clients) >= 2)
        readers = [c for c in clients if c is not slow]
        assert slow.node in {c.node for c in readers}

        # Publish in batches until the slow member's worker closes it: its queue (4) fills
        # once the kernel's buffers are full. The readers read all along, each in a task of
        # its own, and each batch must reach every one of them on time.
        labels: list[str] = []
        async with trio.open_nursery() as nursery:
            for reader in readers:
                nursery.start_soon(partial(reader.until_data, "end", timeout=READING))
            for batch in range(MAX_BATCHES):
                for i in range(BATCH):
                    labels.append(f"{batch}.{i}")
                    await publish(broker, room, f"{labels[-1]}|{PAYLOAD}")
                with trio.fail_after(ON_TIME):
                    for reader in readers:
                        await reader.received(labels[-1])
                if "closing with 1013" in workers.server.output:
                    break
            else:
                pytest.fail(f"{len(labels)} publications did not fill the slow member's queue")

            # The slow client reads again: what was written before the close, then the close.
            with pytest.raises(ConnectionClosed) as closed:
                await slow.until(lambda m: False)
            assert closed.value.reason is not None
            assert closed.value.reason.code == 1013
            assert slow.data == labels[: len(slow.data)]  # in order, without a gap
            assert len(slow.data) < len(labels) - SLOW_QUEUE
            await publish(broker, room, "end")  # the readers stop at it

        # The readers got everything, in order, once.
        for reader in readers:
            assert reader.data == [*labels, "end"]
        remaining = {m.connection_id for m in await broker.members(room)}
        assert {r.connection_id for r in readers} <= remaining
