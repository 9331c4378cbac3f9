"""What :class:`~wsframework.rooms.redis.RedisBroker` keeps in Redis and sends over it.

**Keys** (``<prefix>`` is the broker's ``prefix``, ``<room>`` the room's name as is)::

    <prefix>:room:<room>            the room's pub/sub channel: publications and join/leave events
    <prefix>:history:<room>         the history stream, one entry per publication, id <offset>-0
    <prefix>:history-meta:<room>    hash {epoch, offset}: the stream's epoch and last offset
    <prefix>:presence:<room>        hash connection_id -> member JSON {"c": id, "n": node, "i": ...}
    <prefix>:presence-expiry:<room> sorted set connection_id -> expiry (Redis time, milliseconds)

**Envelopes**: what the channel carries and the stream stores is one byte string, a JSON array
header, a newline, then the payload as raw bytes::

    ["p", origin, [exclude...], "t"|"b"]\\n<data>                 publication without history
    ["p", origin, [exclude...], "t"|"b", epoch, offset]\\n<data>  publication with history
    ["j", origin]\\n<member JSON>                                 join
    ["l", origin]\\n<member JSON>                                 leave

``"t"`` marks text (the payload is its UTF-8), ``"b"`` bytes. The header never holds a raw
newline (JSON escapes it), so the first one ends it. The Lua scripts close the header of a
publication with its epoch and offset, which only they know.

**Scripts**: each step that must be atomic is one Lua script, run with ``EVALSHA`` (coredis
loads it again after a Redis restart). They read the clock with ``TIME`` (Redis's, not ours):

* ``PUBLISH_WITH_HISTORY``: mint the epoch if the meta hash is missing (and drop the stream,
  whose ids must keep increasing), ``HINCRBY`` the offset, ``XADD`` with ``MAXLEN``, ``PEXPIRE``
  both keys and ``PUBLISH``: offsets are unique, contiguous and in channel order.
* ``HISTORY``: the epoch, the top offset and, when recoverable, every entry after ``since``.
* ``JOIN``/``REFRESH``/``LEAVE``/``SWEEP``: presence; a join or leave event is published by the
  script that changed the hash, so each happens once whichever node runs it.
* ``MEMBERS``/``COUNT``: the unexpired entries.

Everything here is pure (no I/O): nothing to cancel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .broker import Member, Position, Publication, RoomEvent

__all__ = [
    "COUNT",
    "HISTORY",
    "JOIN",
    "LEAVE",
    "MEMBERS",
    "PUBLISH_WITH_HISTORY",
    "REFRESH",
    "SWEEP",
    "RoomKeys",
    "decode_envelope",
    "decode_member",
    "event_head",
    "member_json",
    "publication_envelope",
    "publication_head",
]


@dataclass(frozen=True, slots=True)
class RoomKeys:
    """The channel and keys of one room (see the module's docstring)."""

    channel: str
    stream: str
    meta: str
    presence: str
    expiry: str

    @classmethod
    def of(cls, prefix: str, room: str) -> RoomKeys:
        return cls(
            channel=f"{prefix}:room:{room}",
            stream=f"{prefix}:history:{room}",
            meta=f"{prefix}:history-meta:{room}",
            presence=f"{prefix}:presence:{room}",
            expiry=f"{prefix}:presence-expiry:{room}",
        )


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def publication_head(origin: str, exclude: tuple[str, ...], data: str | bytes) -> bytes:
    """A publication's header, still open: ``]`` or the scripts' ``,epoch,offset]`` closes it."""
    if not isinstance(data, (str, bytes)):
        raise TypeError(f"a publication is str or bytes, not {type(data).__name__}")
    flag = "t" if isinstance(data, str) else "b"
    return _json(["p", origin, list(exclude), flag])[:-1].encode()


def publication_envelope(origin: str, exclude: tuple[str, ...], data: str | bytes) -> bytes:
    """The whole envelope of a publication without history."""
    payload = data.encode() if isinstance(data, str) else data
    return publication_head(origin, exclude, data) + b"]\n" + payload


def event_head(kind: str, origin: str) -> bytes:
    """The header of a join (``"j"``) or leave (``"l"``) event, newline not included."""
    return _json([kind, origin]).encode()


def member_json(member: Member) -> bytes:
    """How presence stores a member and events carry it."""
    return _json({"c": member.connection_id, "n": member.node, "i": member.info}).encode()


def decode_member(raw: bytes) -> Member:
    """The member :func:`member_json` encoded."""
    fields = json.loads(raw)
    return Member(str(fields["c"]), str(fields["n"]), fields.get("i"))


def decode_envelope(room: str, raw: bytes) -> Publication | RoomEvent:
    """The publication or event an envelope carries (ValueError if it is none)."""
    head, newline, payload = raw.partition(b"\n")
    fields = json.loads(head) if newline else None
    if not isinstance(fields, list) or len(fields) < 2:
        raise ValueError(f"not a broker envelope: {raw[:60]!r}")
    kind, origin = fields[0], str(fields[1])
    if kind == "p":
        data: str | bytes = payload.decode() if fields[3] == "t" else payload
        position = Position(str(fields[4]), int(fields[5])) if len(fields) >= 6 else None
        return Publication(room, data, position, origin, tuple(fields[2]))
    if kind in ("j", "l"):
        return RoomEvent("join" if kind == "j" else "leave", room, decode_member(payload))
    raise ValueError(f"unknown envelope kind {kind!r}")


# Redis time in milliseconds, for the scripts below.
_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

# Keep a presence key alive for `ttl * 3` at least, so an abandoned room vanishes but sweepers
# have time to emit the leaves of its last members first.
_KEEP = """
local function keep(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
"""

#: KEYS: meta, stream. ARGV: channel, open header, payload, size, ttl ms, epoch to mint.
#: Returns {epoch, offset}.
PUBLISH_WITH_HISTORY = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[6]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0)
end
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
local envelope = ARGV[2] .. ',"' .. epoch .. '",' .. offset .. ']\\n' .. ARGV[3]
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], offset .. '-0', 'e', envelope)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('PUBLISH', ARGV[1], envelope)
return {epoch, offset}
"""

#: KEYS: meta, stream. ARGV: since epoch ('' for none), since offset, epoch to mint, ttl ms.
#: Returns {epoch, top, recovered (0/1), envelope...}.
HISTORY = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[3]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
local top = tonumber(redis.call('HGET', KEYS[1], 'offset'))
if ARGV[1] == '' then return {epoch, top, 1} end
local since = tonumber(ARGV[2])
if ARGV[1] ~= epoch or since > top then return {epoch, top, 0} end
if since == top then return {epoch, top, 1} end
local entries = redis.call('XRANGE', KEYS[2], (since + 1) .. '-0', '+')
if #entries ~= top - since or entries[1][1] ~= (since + 1) .. '-0' then
  return {epoch, top, 0}
end
local reply = {epoch, top, 1}
for _, entry in ipairs(entries) do reply[#reply + 1] = entry[2][2] end
return reply
"""

#: KEYS: presence, expiry. ARGV: connection id, member JSON, ttl ms, channel, join header.
JOIN = (
    _NOW
    + _KEEP
    + """
local ttl = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
keep(KEYS[1], ttl * 3)
keep(KEYS[2], ttl * 3)
redis.call('PUBLISH', ARGV[4], ARGV[5] .. '\\n' .. ARGV[2])
return 1
"""
)

#: KEYS: presence, expiry. ARGV: ttl ms, channel, join header, then (connection id, member
#: JSON) pairs. A member that had been swept meanwhile is added back with a join event.
REFRESH = (
    _NOW
    + _KEEP
    + """
local ttl = tonumber(ARGV[1])
local joined = 0
for i = 4, #ARGV, 2 do
  if redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('PUBLISH', ARGV[2], ARGV[3] .. '\\n' .. ARGV[i + 1])
    joined = joined + 1
  end
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[i])
end
keep(KEYS[1], ttl * 3)
keep(KEYS[2], ttl * 3)
return joined
"""
)

#: KEYS: presence, expiry. ARGV: connection id, channel, leave header. Returns 1 if it left.
LEAVE = """
local member = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if not member then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3] .. '\\n' .. member)
return 1
"""

#: KEYS: presence, expiry. ARGV: channel, leave header, batch size. Returns how many left.
SWEEP = (
    _NOW
    + """
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, ARGV[3])
local left = 0
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[2], id)
  local member = redis.call('HGET', KEYS[1], id)
  if member then
    redis.call('HDEL', KEYS[1], id)
    redis.call('PUBLISH', ARGV[1], ARGV[2] .. '\\n' .. member)
    left = left + 1
  end
end
return left
"""
)

#: KEYS: presence, expiry. Returns the member JSON of every unexpired entry.
MEMBERS = (
    _NOW
    + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf')
if #ids == 0 then return {} end
local found = {}
for _, member in ipairs(redis.call('HMGET', KEYS[1], unpack(ids))) do
  if member then found[#found + 1] = member end
end
return found
"""
)

#: KEYS: expiry. Returns how many entries are unexpired.
COUNT = (
    _NOW
    + """
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
"""
)
