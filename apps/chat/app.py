"""A chat with rooms: user names, a live member list, typed messages and reconnect-with-recovery.

Run it with ``make run`` (or ``python -m apps.chat.app [PORT]``) and open
http://127.0.0.1:8000/?room=lobby&user=ann in a browser, and
http://127.0.0.1:8000/?room=lobby&user=bob in another (without ``room`` and ``user`` the page
asks for them). Across worker processes, the rooms go through Redis::

    wsframework run apps.chat.app:app --workers 2 --broker redis://127.0.0.1:6379/0

(or ``WSFRAMEWORK_BROKER=redis://127.0.0.1:6379/0``); by default the broker is in memory, for
one process.

The wire protocol, on ``ws://HOST/chat/{room}?user=NAME[&since=EPOCH:OFFSET]`` (JSON text):

* client to server: ``{"type": "say", "text": "..."}`` (1 to 500 characters once stripped);
  anything else is answered with ``{"type": "error", "error": "invalid_message", "detail":
  [...]}`` and the connection goes on;
* server to client, first: ``{"type": "welcome", "room": ..., "id": <this connection's id>,
  "recovered": true | false | null, "members": [{"user": ..., "id": ...}, ...], "position":
  {"epoch": ..., "offset": ...}}``. ``recovered`` answers ``since``: ``true``, the messages
  missed since then follow (in order, once each), ``false``, they are lost (the client starts
  over), ``null``, none was asked. ``position`` is the last message this connection is given
  so far: keep it, with the position of each message after it, for the next ``since``;
* ``{"type": "message", "epoch": ..., "offset": ..., "user": ..., "text": ...}``, every
  message said in the room, the sender's own included;
* ``{"type": "join" | "leave", "user": ..., "id": ...}``, members coming and going, this
  connection's own join included (it may arrive before the welcome: apply the joins and
  leaves received before the welcome to its member list, in order).

A missing or over-long ``user`` or ``room``, or a malformed ``since``, is refused with HTTP 400.
The page, ``GET /``, is ``static/chat.html``: plain HTML and JavaScript that reconnects by
itself (0.5 s, doubling up to 5 s) with ``since=`` its last position.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from wsframework import App, HTMLResponse, HTTPRequest, Response
from wsframework.rooms import HistoryPolicy, Position, Publication, RoomEvent, RoomOptions
from wsframework.typed import TypedRequest, dump_message, validate_message

#: The longest user name, room name and message text.
MAX_USER = 32
MAX_ROOM = 64
MAX_TEXT = 500
#: Each room keeps its last 100 messages for 10 minutes: what a reconnecting page recovers.
HISTORY = HistoryPolicy(size=100, ttl=600)

PAGE = (Path(__file__).parent / "static" / "chat.html").read_text(encoding="utf-8")

# ---------------------------------------------------------------------------- the messages


#: What a member may say: 1 to MAX_TEXT characters once stripped.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT)]


class Say(BaseModel):
    """Client to server: say ``text`` in the room."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["say"]
    text: Text


class MemberInfo(BaseModel):
    """A member as the page lists it."""

    user: str
    id: str


class PositionInfo(BaseModel):
    """A position in a room's history, as the page keeps it."""

    epoch: str
    offset: int


class Welcome(BaseModel):
    """Server to client, once joined: who is here and whether what was missed follows."""

    type: Literal["welcome"] = "welcome"
    room: str
    id: str
    recovered: bool | None
    members: list[MemberInfo]
    position: PositionInfo | None


class Line(BaseModel):
    """What the room publishes for each message (and keeps in its history)."""

    user: str
    text: str


class ChatMessage(BaseModel):
    """Server to client: a :class:`Line` with its position (the room's ``encode``)."""

    type: Literal["message"] = "message"
    epoch: str | None
    offset: int | None
    user: str
    text: str


class Presence(BaseModel):
    """Server to client: a member joined or left (the room's ``announce``)."""

    type: Literal["join", "leave"]
    user: str
    id: str


#: Everything a member receives: the handler sends the welcome, the room the rest (its
#: ``encode`` and ``announce``). As the route's ``send=`` type it is checked on ``ws.send`` and
#: shown by ``app.asyncapi()`` (docs/asyncapi.md).
ServerMessage = Annotated[Welcome | ChatMessage | Presence, Field(discriminator="type")]


# ---------------------------------------------------------------------------- the rooms


def encode(publication: Publication) -> str:
    """A published :class:`Line` as the :class:`ChatMessage` members receive (once per
    process for all of them)."""
    line = validate_message(Line, publication.data)
    position = publication.position
    return dump_message(
        ChatMessage(
            epoch=position.epoch if position else None,
            offset=position.offset if position else None,
            user=line.user,
            text=line.text,
        )
    )


def user_of(info: Any) -> str | None:
    """The user name a member gave as presence (``{"user": NAME}``), if it did."""
    user = info.get("user") if isinstance(info, dict) else None
    return user if isinstance(user, str) else None


def announce(event: RoomEvent) -> str | None:
    """A join or leave as the :class:`Presence` members receive (nothing for a member that
    gave no user name)."""
    user = user_of(event.member.info)
    if user is None:
        return None
    return dump_message(Presence(type=event.kind, user=user, id=event.member.connection_id))


def position_info(position: Position | None) -> PositionInfo | None:
    return None if position is None else PositionInfo(epoch=position.epoch, offset=position.offset)


def check_query(room: str, user: str, since: str | None) -> tuple[Position | None, str | None]:
    """The ``since`` position, or why the handshake is refused."""
    if not 0 < len(user) <= MAX_USER or not user.isprintable():
        return None, f"user must be 1 to {MAX_USER} printable characters"
    if not 0 < len(room) <= MAX_ROOM or not room.isprintable():
        return None, f"the room name must be 1 to {MAX_ROOM} printable characters"
    if since is None:
        return None, None
    try:
        return Position.parse(since), None
    except ValueError:
        return None, "since must be EPOCH:OFFSET, as a message's epoch and offset"


# ---------------------------------------------------------------------------- the app


def create_app() -> App:
    """The chat app (a fresh one per call: the tests each run their own)."""
    app = App()
    app.rooms.configure("*", RoomOptions(history=HISTORY, encode=encode, announce=announce))

    @app.http("/")
    async def page(request: HTTPRequest) -> Response:
        return HTMLResponse(PAGE)

    @app.websocket("/chat/{room}", receive=Say, send=ServerMessage, on_invalid="reply")
    async def chat(request: TypedRequest[Say, ServerMessage]) -> None:
        """A member of the room ``room``: ``?user=NAME`` (and ``since=EPOCH:OFFSET`` to recover).

        The server first sends a welcome, then every message said in the room (the member's own
        included) and the joins and leaves; what the member says is published to the room.
        """
        name = request.path_params["room"]
        user = (request.query_params.get("user") or "").strip()
        since, problem = check_query(name, user, request.query_params.get("since"))
        if problem is not None:
            await request.reject(400, body=problem.encode())
            return
        ws = await request.accept()
        room = app.rooms[name]
        async with room.join(ws, presence={"user": user}, since=since) as membership:
            members = [
                MemberInfo(user=member_user, id=member.connection_id)
                for member in await room.members()
                if (member_user := user_of(member.info)) is not None
            ]
            members.sort(key=lambda m: (m.user, m.id))
            welcome = Welcome(
                room=name,
                id=membership.connection_id,
                recovered=membership.recovered,
                members=members,
                position=position_info(membership.position),
            )
            await ws.send(welcome)
            async for say in ws:
                await room.publish(Line(user=user, text=say.text))

    return app


app = create_app()


if __name__ == "__main__":
    # The same as: wsframework run apps.chat.app:app --port PORT (graceful drain on Ctrl+C).
    from wsframework.cli import main

    port = sys.argv[1] if len(sys.argv) > 1 else "8000"
    sys.exit(main(["run", "apps.chat.app:app", "--port", port]))
