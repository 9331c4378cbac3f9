"""The app of the two-worker rooms tests (``test_rooms_workers*.py``), served by ``wsframework
run --workers 2 --broker URL`` and by ``hypercorn --workers 2`` with ``WSFRAMEWORK_BROKER``.

``/chat/{room}?user=NAME[&since=EPOCH:OFFSET]`` joins ``room`` with presence ``{"user": NAME}``
and publishes every text message it receives. Everything a client receives is a JSON object:

* ``{"type": "hello", "node", "connection_id", "recovered", "position"}`` once joined (a
  recovered publication may come before it: they are written by the member's own writer);
* ``{"type": "message", "data", "origin", "position"}`` a publication (``position`` is
  ``"epoch:offset"`` in the ``history:*`` rooms, else ``null``);
* ``{"type": "join"|"leave", "connection_id", "node", "info"}`` presence, in every room but
  ``slow:*``;
* ``{"type": "restored"}`` to every connection of a worker that got the broker back;
* ``{"type": "error", "error"}`` a publication the broker refused.

Each worker prints ``rooms_app: ready NODE`` on stderr once its rooms are open.
"""

from __future__ import annotations

import json
import sys

from wsframework import App, WebSocketRequest
from wsframework.exceptions import BrokerUnavailable, ConnectionClosed
from wsframework.interface import WebSocketConnection
from wsframework.rooms import HistoryPolicy, Position, Publication, RoomEvent, Rooms

#: Seconds a dead worker's members stay in presence (the default is 30).
PRESENCE_TTL = 2.0
HISTORY = HistoryPolicy(size=100, ttl=60)
#: The ``slow:*`` rooms: a member whose client stops reading is closed with 1013.
SLOW_QUEUE = 4


def encode(publication: Publication) -> str:
    data = publication.data
    return json.dumps(
        {
            "type": "message",
            "data": data if isinstance(data, str) else data.decode("latin-1"),
            "origin": publication.origin,
            "position": None if publication.position is None else str(publication.position),
        }
    )


def announce(event: RoomEvent) -> str:
    return json.dumps({"type": event.kind, **event.member.to_json()})


def configure(rooms: Rooms) -> None:
    """The rooms' settings, shared with the tests' own publisher."""
    rooms.presence_ttl = PRESENCE_TTL
    rooms.configure("*", encode=encode, announce=announce)
    rooms.configure("history:*", history=HISTORY, encode=encode, announce=announce)
    rooms.configure("slow:*", queue_size=SLOW_QUEUE, overflow="close", encode=encode)


app = App()
configure(app.rooms)
connections: set[WebSocketConnection] = set()


@app.on_startup
async def ready() -> None:
    # One write: the two workers share the stream (print() writes the newline apart).
    sys.stderr.write(f"rooms_app: ready {app.rooms.broker.node}\n")
    sys.stderr.flush()


@app.rooms.on_restored
async def tell_everyone() -> None:
    for ws in list(connections):
        try:
            await ws.send_message(json.dumps({"type": "restored"}))
        except ConnectionClosed:
            pass


@app.websocket("/chat/{room}")
async def chat(request: WebSocketRequest) -> None:
    ws = await request.accept()
    room = app.rooms[request.path_params["room"]]
    user = request.query_params.get("user", "anonymous")
    since_text = request.query_params.get("since")
    since = Position.parse(since_text) if since_text else None
    async with room.join(ws, presence={"user": user}, since=since) as membership:
        position = membership.position
        hello = {
            "type": "hello",
            "node": membership.member.node,
            "connection_id": membership.connection_id,
            "recovered": membership.recovered,
            "position": None if position is None else str(position),
        }
        await ws.send_message(json.dumps(hello))
        connections.add(ws)
        try:
            async for message in ws:
                try:
                    await room.publish(message)
                except BrokerUnavailable as exc:
                    await ws.send_message(json.dumps({"type": "error", "error": str(exc)}))
        finally:
            connections.discard(ws)
