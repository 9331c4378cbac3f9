"""Rooms across two real worker processes and a real Redis, under both runners: ``wsframework
run --workers 2 --broker URL`` and ``hypercorn --workers 2`` with ``WSFRAMEWORK_BROKER``.

Here: fan-out and presence over both workers, and a worker killed with SIGKILL. Redis
restarting, recovery with ``since=`` and a member that stops reading are in
``test_rooms_workers_recovery.py``; the harness is ``rooms_workers_helpers.py`` and the app
``rooms_app.py``.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from contextlib import AsyncExitStack
from functools import partial

import pytest
import trio

from wsframework.exceptions import ConnectionClosed

from . import rooms_workers_helpers
from .rooms_app import PRESENCE_TTL
from .rooms_workers_helpers import (
    TIMEOUT,
    Client,
    Workers,
    connect_on_both,
    node_pid,
    observer,
    publish,
)

workers = rooms_workers_helpers.workers  # the fixture, once per runner

#: How often the sweep runs (every process, every ``presence_ttl / 3``): a dead member's entry
#: expires ``presence_ttl`` after its last refresh at the latest, and its leave event is
#: published by the next sweep of a process subscribed to the room.
SWEEP_PERIOD = PRESENCE_TTL / 3
#: Scheduling slack on a loaded 2-core machine.
SLACK = 0.75


def saw_all_leave(client: Client, gone: set[str], _: object) -> bool:
    return gone <= set(client.left())


async def test_a_publication_reaches_every_member_on_both_workers_once(workers: Workers) -> None:
    room = "chat:fanout"
    async with AsyncExitStack() as stack:
        broker, _ = await stack.enter_async_context(observer(workers.redis.url))
        clients = await connect_on_both(stack, workers, room)
        assert {c.node for c in clients} == set(workers.nodes)

        # Presence lists every member of both workers, with what each joined with.
        members = await broker.members(room)
        assert sorted((m.connection_id, m.node, m.info) for m in members) == sorted(
            (c.connection_id, c.node, {"user": c.user}) for c in clients
        )
        assert await broker.count(room) == len(clients)

        # One publication from the test's own node, then one from a client of each worker;
        # each is seen by its sender before the next, so every member gets the same order.
        await publish(broker, room, "from-test")
        senders = {c.node: c for c in clients}
        expected = ["from-test"]
        for sender in senders.values():
            await sender.ws.send_message(f"from-{sender.user}")
            await sender.until_data(f"from-{sender.user}")
            expected.append(f"from-{sender.user}")
        await publish(broker, room, "end")
        expected.append("end")
        for client in clients:
            await client.until_data("end")
            assert client.data == expected, client  # every one, exactly once, in order
            origins = {m["data"]: m["origin"] for m in client.seen if m["type"] == "message"}
            assert origins["from-test"] == broker.node
            for node, sender in senders.items():
                assert origins[f"from-{sender.user}"] == node


async def test_a_killed_workers_members_leave_presence_within_the_ttl(workers: Workers) -> None:
    room = "chat:kill"
    async with AsyncExitStack() as stack:
        broker, recorder = await stack.enter_async_context(observer(workers.redis.url))
        await broker.subscribe(room)  # the test's node sees the room's events (and sweeps it)
        clients = await connect_on_both(stack, workers, room, on_one=2)
        victim = Counter(c.node for c in clients).most_common(1)[0][0]  # two members or more
        gone = {c.connection_id for c in clients if c.node == victim}
        survivors = [c for c in clients if c.node != victim]

        killed_at = trio.current_time()
        os.kill(node_pid(victim), signal.SIGKILL)

        # Leave events: one per dead member, from the first sweep after the entry expired
        # (the sweep removes the entry and publishes its leave in one script).
        deadline = killed_at + PRESENCE_TTL + SWEEP_PERIOD + SLACK
        await recorder.wait(lambda: gone <= set(recorder.left()), deadline - trio.current_time())
        # Presence: the dead worker's entries no longer count.
        assert not gone & {m.connection_id for m in await broker.members(room)}

        if workers.runner == "native":
            # The other worker's members see them leave (the room announces leaves)...
            for survivor in survivors:
                await survivor.until(partial(saw_all_leave, survivor, gone))
                assert sorted(survivor.left()) == sorted(gone)  # once each
            # ...and still share the room with the test's node.
            await publish(broker, room, "after")
            for survivor in survivors:
                await survivor.until_data("after")
            assert sorted(m.connection_id for m in await broker.members(room)) == sorted(
                c.connection_id for c in survivors
            )
            # The supervisor restarts the killed worker, which joins the broker again.
            died = rf"worker \d \(pid {node_pid(victim)}\) died \(killed by SIGKILL\)"
            await trio.to_thread.run_sync(workers.server.wait_for, died)
            restarted = await trio.to_thread.run_sync(workers.wait_ready, 3)
            assert node_pid(restarted[2]) not in {node_pid(n) for n in restarted[:2]}
        else:
            # Hypercorn 0.18 stops every worker when one exits with a non-zero status (its
            # run loop ends, and it exits 0), so the other worker drains too: its clients are
            # closed and its members leave as well.
            await trio.to_thread.run_sync(workers.server.proc.wait, TIMEOUT)
            for survivor in survivors:
                with pytest.raises(ConnectionClosed):
                    await survivor.until(lambda m: False)
            everyone = {c.connection_id for c in clients}
            await recorder.wait(lambda: everyone <= set(recorder.left()))
            assert await broker.count(room) == 0
        counted = Counter(recorder.left())
        assert all(counted[cid] == 1 for cid in gone), counted  # each left once
