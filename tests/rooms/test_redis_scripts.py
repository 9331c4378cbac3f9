"""The RedisBroker's wire format (envelopes) and its Lua scripts, run against a real Redis."""

from __future__ import annotations

import coredis
import pytest

from wsframework.rooms import redis_scripts as lua
from wsframework.rooms.broker import Member, Position, Publication, RoomEvent

from .broker_helpers import COREDIS_UNCLOSED_STREAMS

pytestmark = pytest.mark.filterwarnings(COREDIS_UNCLOSED_STREAMS)


@pytest.mark.parametrize("data", ["plain", "", "line\nbreaks\n", "caf\u00e9", b"", b"\n\x00\xff"])
def test_publications_round_trip_with_their_type(data: str | bytes) -> None:
    envelope = lua.publication_envelope("node-1", ("c1",), data)
    assert lua.decode_envelope("room", envelope) == Publication(
        "room", data, None, "node-1", ("c1",)
    )


def test_an_envelope_is_a_json_header_line_then_the_raw_payload() -> None:
    assert lua.publication_envelope("n", (), b"\x01") == b'["p","n",[],"b"]\n\x01'
    assert lua.publication_envelope("n\n", ("x",), "t") == b'["p","n\\n",["x"],"t"]\nt'


def test_a_closed_history_header_carries_the_position() -> None:
    head = lua.publication_head("n", (), "hi")
    envelope = head + b',"e1",7]\nhi'
    assert lua.decode_envelope("r", envelope) == Publication("r", "hi", Position("e1", 7), "n")


def test_events_carry_the_member() -> None:
    member = Member("c1", "node-2", {"name": "ann", "tags": [1, 2]})
    raw = lua.event_head("j", "node-2") + b"\n" + lua.member_json(member)
    assert lua.decode_envelope("r", raw) == RoomEvent("join", "r", member)
    raw = lua.event_head("l", "node-3") + b"\n" + lua.member_json(Member("c2", "n", None))
    assert lua.decode_envelope("r", raw) == RoomEvent("leave", "r", Member("c2", "n", None))


@pytest.mark.parametrize("raw", [b"no header", b'["p"]\nx', b'["x","n"]\n', b"{}\n"])
def test_what_is_not_an_envelope_is_refused(raw: bytes) -> None:
    with pytest.raises(ValueError, match="envelope"):
        lua.decode_envelope("r", raw)


def test_room_keys_share_the_prefix() -> None:
    keys = lua.RoomKeys.of("app", "a:b")
    assert keys.channel == "app:room:a:b"
    assert {keys.stream, keys.meta, keys.presence, keys.expiry} == {
        "app:history:a:b",
        "app:history-meta:a:b",
        "app:presence:a:b",
        "app:presence-expiry:a:b",
    }


async def test_publish_script_mints_the_epoch_and_drops_an_orphan_stream(redis_url: str) -> None:
    keys = lua.RoomKeys.of("t", "r")
    async with coredis.Redis.from_url(redis_url) as client:
        # A stream left without its meta (its ids must restart from 1 in the new epoch).
        await client.xadd(keys.stream, {"e": "old"}, identifier="50-0")
        script = client.register_script(lua.PUBLISH_WITH_HISTORY)
        head = lua.publication_head("n", (), "x")
        args = [keys.channel, head, b"x", 10, 60_000, "epoch1"]
        assert await script(keys=[keys.meta, keys.stream], args=args) == [b"epoch1", 1]
        args[-1] = "unused"
        assert await script(keys=[keys.meta, keys.stream], args=args) == [b"epoch1", 2]
        entries = await client.xrange(keys.stream)
        assert [entry.identifier for entry in entries] == [b"1-0", b"2-0"]
        assert 0 < await client.pttl(keys.meta) <= 60_000


async def test_sweep_removes_only_expired_entries_once(redis_url: str) -> None:
    keys = lua.RoomKeys.of("t", "r")
    async with coredis.Redis.from_url(redis_url) as client:
        await client.hset(keys.presence, {"old": b'{"c":"old"}', "new": b'{"c":"new"}'})
        await client.zadd(keys.expiry, {"old": 1, "new": 2**50})
        sweep = client.register_script(lua.SWEEP)
        args = [keys.channel, lua.event_head("l", "n"), 100]
        assert await sweep(keys=[keys.presence, keys.expiry], args=args) == 1
        assert await sweep(keys=[keys.presence, keys.expiry], args=args) == 0
        assert await client.hkeys(keys.presence) == (b"new",)
        count = client.register_script(lua.COUNT)
        assert await count(keys=[keys.expiry]) == 1
