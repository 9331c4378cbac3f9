"""Typed messages (wsframework.typed), socket-less: our server against a scripted wsproto client.

Packaging (pydantic stays optional, what type checkers see) is in ``test_typed_packaging.py``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

import pytest
import trio
import trio.testing
from pydantic import BaseModel, Field, field_validator
from wsproto import ConnectionType
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    Request,
    TextMessage,
)

from wsframework import ConnectionClosed, InvalidMessage, WebSocketRequest
from wsframework.options import ServerOptions
from wsframework.server import serve_stream
from wsframework.typed import (
    MessageContract,
    TypedConnection,
    dump_message,
    receive_model,
    send_model,
    validate_message,
)

from .peers import ScriptedPeer, stream_pair

Handler = Callable[[WebSocketRequest], Awaitable[None]]


class Join(BaseModel):
    type: Literal["join"]
    room: str


class Say(BaseModel):
    type: Literal["say"]
    text: str


class Event(BaseModel):
    type: Literal["event"] = "event"
    what: str


class Picky(BaseModel):
    name: str

    @field_validator("name")
    @classmethod
    def never(cls, value: str) -> str:
        raise ValueError("é" * 200)  # a long, multi-byte error message


Inbound = Annotated[Join | Say, Field(discriminator="type")]


async def opened(nursery: trio.Nursery, handler: Handler) -> ScriptedPeer:
    server_stream, client_stream = stream_pair()
    nursery.start_soon(serve_stream, handler, server_stream, ServerOptions())
    peer = ScriptedPeer(client_stream, ConnectionType.CLIENT)
    await peer.send(Request(host="example.com", target="/rpc?x=1"))
    await peer.expect(AcceptConnection)
    return peer


def typed(contract: MessageContract, body: Callable[[TypedConnection], Awaitable[None]]) -> Handler:
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await body(TypedConnection(ws, contract))

    return handler


async def send_json(peer: ScriptedPeer, obj: Any) -> None:
    await peer.send(TextMessage(data=json.dumps(obj)))


async def expect_json(peer: ScriptedPeer) -> Any:
    return json.loads((await peer.expect(TextMessage)).data)


async def expect_normal_close(peer: ScriptedPeer) -> None:
    event = await peer.expect(CloseConnection)
    assert event.code == 1000
    await peer.send(event.response())
    assert await peer.next_event() is None


# ---------------------------------------------------------------------------- plain connection


async def test_receive_json_and_send_json(nursery: trio.Nursery) -> None:
    errors: list[InvalidMessage] = []

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        for _ in range(3):
            try:
                obj = await ws.receive_json()
            except InvalidMessage as exc:
                errors.append(exc)
                await ws.send_json({"error": exc.errors[0]["type"]})
            else:
                await ws.send_json({"got": obj})

    peer = await opened(nursery, handler)
    await send_json(peer, {"a": [1, "é", None]})
    reply = await peer.expect(TextMessage)
    assert reply.data == '{"got":{"a":[1,"é",null]}}'  # compact, not ASCII-escaped
    await peer.send(BytesMessage(data=b'{"b": 2}'))  # UTF-8 JSON in a binary message
    assert await expect_json(peer) == {"got": {"b": 2}}
    await peer.send(TextMessage(data="not json"))
    assert await expect_json(peer) == {"error": "json_invalid"}
    await expect_normal_close(peer)
    assert len(errors) == 1
    assert isinstance(errors[0], ValueError)
    assert errors[0].message == "not json"


async def test_receive_model_and_send_model(nursery: trio.Nursery) -> None:
    got: list[Any] = []

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        join = await receive_model(ws, Join)
        got.append(join)
        await send_model(ws, Event(what=f"joined {join.room}"))
        with pytest.raises(InvalidMessage) as info:
            await receive_model(ws, Join)
        got.append(info.value)
        with pytest.raises(TypeError, match="pydantic model instance, not dict"):
            await send_model(ws, {"what": "no"})
        await send_model(ws, Event(what="done"))

    peer = await opened(nursery, handler)
    await send_json(peer, {"type": "join", "room": "lobby"})
    assert await expect_json(peer) == {"type": "event", "what": "joined lobby"}
    await send_json(peer, {"type": "join"})
    assert await expect_json(peer) == {"type": "event", "what": "done"}  # the dict was not sent
    await expect_normal_close(peer)
    assert got[0] == Join(type="join", room="lobby")
    exc = got[1]
    assert exc.message == '{"type": "join"}'
    assert [(e["type"], e["loc"]) for e in exc.errors] == [("missing", ["room"])]
    assert str(exc) == "invalid message: room: Field required"


# ---------------------------------------------------------------------------- one message


def test_validate_message_union_and_errors() -> None:
    assert validate_message(Inbound, '{"type": "say", "text": "hi"}') == Say(type="say", text="hi")
    assert validate_message(Inbound, b'{"type": "join", "room": "r"}') == Join(
        type="join", room="r"
    )
    assert validate_message(list[int], "[1, 2]") == [1, 2]
    with pytest.raises(InvalidMessage) as info:
        validate_message(Inbound, '{"type": "shout"}')
    assert info.value.errors[0]["type"] == "union_tag_invalid"
    assert "shout" in str(info.value)
    with pytest.raises(InvalidMessage) as info:
        validate_message(Join, "{")
    assert info.value.errors[0]["type"] == "json_invalid"
    assert info.value.message == "{"
    with pytest.raises(InvalidMessage) as info:
        validate_message(Join, '{"type": "say", "room": 5}')
    errors = info.value.errors
    assert json.loads(json.dumps(errors)) == errors  # JSON-safe
    assert all("url" not in e for e in errors)
    assert str(info.value) == "invalid message: type: Input should be 'join' (and 1 more)"
    with pytest.raises(InvalidMessage) as info:
        validate_message(Join, b"\xff")  # not UTF-8
    assert info.value.errors[0]["type"] == "json_invalid"
    assert json.loads(json.dumps(info.value.errors)) == info.value.errors


def test_dump_message() -> None:
    assert dump_message(Say(type="say", text="é")) == '{"type":"say","text":"é"}'
    with pytest.raises(TypeError, match="not dict"):
        dump_message({"type": "say"})


# ---------------------------------------------------------------------------- contracts


def test_message_contract_validation() -> None:
    contract = MessageContract(receive=Inbound, send=Event)
    assert contract.on_invalid == "close"
    assert MessageContract().receive is None and MessageContract().send is None
    with pytest.raises(ValueError, match=r"'close', 'reply', 'ignore', got 'drop'"):
        MessageContract(receive=Join, on_invalid="drop")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="receive="):
        MessageContract(receive=object())
    with pytest.raises(TypeError, match=r"send=.*discriminator"):
        MessageContract(send=Annotated[Join | Say, Field(discriminator="kind")])
    with pytest.raises(AttributeError):
        contract.on_invalid = "ignore"  # type: ignore[misc]


def test_check_send() -> None:
    union = MessageContract(send=Join | Say)
    assert union.check_send(Say(type="say", text="x")) == '{"type":"say","text":"x"}'
    with pytest.raises(TypeError, match=r"send expects Join \| Say, got dict"):
        union.check_send({"type": "say", "text": "x"})
    listed = MessageContract(send=list[int])
    assert listed.check_send([1, 2]) == "[1,2]"
    with pytest.raises(TypeError, match=r"send expects list\[int\], got list"):
        listed.check_send(["1"])  # strict: no coercion
    free = MessageContract()
    assert free.check_send(Event(what="e")) == '{"type":"event","what":"e"}'
    assert free.check_send({"k": "é"}) == '{"k":"é"}'
    with pytest.raises(TypeError):
        free.check_send({1, 2})


async def test_discriminated_union(nursery: trio.Nursery) -> None:
    got: list[Any] = []

    async def body(ws: TypedConnection) -> None:
        got.append(await ws.receive())
        got.append(await ws.receive())
        await ws.send(Event(what="ok"))

    peer = await opened(nursery, typed(MessageContract(receive=Inbound, send=Event), body))
    await send_json(peer, {"type": "join", "room": "lobby"})
    await send_json(peer, {"type": "say", "text": "hello"})
    assert await expect_json(peer) == {"type": "event", "what": "ok"}
    await expect_normal_close(peer)
    assert got == [Join(type="join", room="lobby"), Say(type="say", text="hello")]


async def test_policy_close(nursery: trio.Nursery) -> None:
    raised: list[ConnectionClosed] = []
    done = trio.Event()

    async def body(ws: TypedConnection) -> None:
        try:
            await ws.receive()
        except ConnectionClosed as exc:
            raised.append(exc)
        done.set()

    peer = await opened(nursery, typed(MessageContract(receive=Inbound), body))
    await send_json(peer, {"type": "join"})
    event = await peer.expect(CloseConnection)
    assert event.code == 1007
    assert event.reason == "invalid message: join.room: Field required"
    await peer.send(event.response())
    assert await peer.next_event() is None
    await done.wait()
    assert raised[0].reason is not None
    assert (raised[0].reason.code, raised[0].reason.reason) == (1007, event.reason)
    assert isinstance(raised[0].__cause__, InvalidMessage)


async def test_policy_close_truncates_reason(nursery: trio.Nursery) -> None:
    raised: list[ConnectionClosed] = []
    done = trio.Event()

    async def body(ws: TypedConnection) -> None:
        with pytest.raises(ConnectionClosed) as info:
            await ws.receive()
        raised.append(info.value)
        done.set()

    peer = await opened(nursery, typed(MessageContract(receive=Picky), body))
    await send_json(peer, {"name": "x"})
    event = await peer.expect(CloseConnection)
    assert event.code == 1007
    assert event.reason.startswith("invalid message: name: Value error, éé")
    assert 120 <= len(event.reason.encode("utf-8")) <= 123
    await peer.send(event.response())
    await done.wait()
    assert raised and raised[0].reason is not None and raised[0].reason.code == 1007


async def test_policy_reply(nursery: trio.Nursery) -> None:
    got: list[Any] = []

    async def body(ws: TypedConnection) -> None:
        got.append(await ws.receive())
        await ws.send(Event(what="got it"))

    contract = MessageContract(receive=Inbound, on_invalid="reply")
    peer = await opened(nursery, typed(contract, body))
    await send_json(peer, {"type": "say"})
    assert await expect_json(peer) == {
        "type": "error",
        "error": "invalid_message",
        "detail": [{"type": "missing", "loc": ["say", "text"], "msg": "Field required"}],
    }
    await peer.send(TextMessage(data="{oops"))
    error = await expect_json(peer)
    assert error["error"] == "invalid_message"
    assert error["detail"][0]["type"] == "json_invalid"
    await send_json(peer, {"type": "say", "text": "fine"})
    assert await expect_json(peer) == {"type": "event", "what": "got it"}
    await expect_normal_close(peer)
    assert got == [Say(type="say", text="fine")]


async def test_policy_ignore(nursery: trio.Nursery, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="wsframework")
    got: list[Any] = []

    async def body(ws: TypedConnection) -> None:
        got.append(await ws.receive())
        await ws.send(Event(what="got it"))

    contract = MessageContract(receive=Inbound, on_invalid="ignore")
    peer = await opened(nursery, typed(contract, body))
    await send_json(peer, {"type": "shout"})
    await peer.send(BytesMessage(data=b"\xff"))
    await send_json(peer, {"type": "join", "room": "r"})
    # The first thing the peer hears is the answer to the valid message: no error reply.
    assert await expect_json(peer) == {"type": "event", "what": "got it"}
    await expect_normal_close(peer)
    assert got == [Join(type="join", room="r")]
    assert caplog.text.count("ignoring an invalid message") == 2


async def test_send_contract_violation_sends_nothing(nursery: trio.Nursery) -> None:
    errors: list[str] = []

    async def body(ws: TypedConnection) -> None:
        for bad in (Say(type="say", text="x"), {"type": "event", "what": "dict"}):
            try:
                await ws.send(bad)
            except TypeError as exc:
                errors.append(str(exc))
        with pytest.raises(TypeError):
            await ws.send_model(Join(type="join", room="r"))
        await ws.send_model(Event(what="valid"))

    peer = await opened(nursery, typed(MessageContract(send=Event), body))
    assert await expect_json(peer) == {"type": "event", "what": "valid"}
    await expect_normal_close(peer)
    assert errors == ["send expects Event, got Say", "send expects Event, got dict"]


async def test_no_types_passes_raw_messages_and_any_json(nursery: trio.Nursery) -> None:
    got: list[Any] = []

    async def body(ws: TypedConnection) -> None:
        got.append(await ws.receive())
        got.append(await ws.receive())
        await ws.send(Event(what="model"))
        await ws.send([1, "two"])

    peer = await opened(nursery, typed(MessageContract(on_invalid="reply"), body))
    await peer.send(TextMessage(data="not json"))
    await peer.send(BytesMessage(data=b"\x00"))
    assert await expect_json(peer) == {"type": "event", "what": "model"}
    assert await expect_json(peer) == [1, "two"]
    await expect_normal_close(peer)
    assert got == ["not json", b"\x00"]


async def test_iteration_ends_on_normal_close(nursery: trio.Nursery) -> None:
    got: list[Any] = []
    done = trio.Event()

    async def body(ws: TypedConnection) -> None:
        async for message in ws:
            got.append(message)
        done.set()

    peer = await opened(nursery, typed(MessageContract(receive=Inbound), body))
    await send_json(peer, {"type": "join", "room": "a"})
    await send_json(peer, {"type": "say", "text": "b"})
    await peer.send(CloseConnection(code=1001, reason="going"))
    assert (await peer.expect(CloseConnection)).code == 1001
    await done.wait()
    assert got == [Join(type="join", room="a"), Say(type="say", text="b")]


@pytest.mark.parametrize("invalid", [False, True])
async def test_iteration_raises_on_other_close(nursery: trio.Nursery, invalid: bool) -> None:
    raised: list[ConnectionClosed] = []
    got: list[Any] = []
    done = trio.Event()

    async def body(ws: TypedConnection) -> None:
        try:
            async for message in ws:
                got.append(message)
        except ConnectionClosed as exc:
            raised.append(exc)
        done.set()

    peer = await opened(nursery, typed(MessageContract(receive=Join), body))
    await send_json(peer, {"type": "join", "room": "a"})
    if invalid:
        await send_json(peer, {"type": "join", "room": 1})
        event = await peer.expect(CloseConnection)
        await peer.send(event.response())
        code = 1007
    else:
        await peer.send(CloseConnection(code=4001, reason="custom"))
        await peer.expect(CloseConnection)
        code = 4001
    assert await peer.next_event() is None
    await done.wait()
    assert got == [Join(type="join", room="a")]
    assert raised and raised[0].reason is not None and raised[0].reason.code == code


async def test_receive_timeout_loses_nothing(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    timed_out = trio.Event()
    got: list[Any] = []

    async def body(ws: TypedConnection) -> None:
        with trio.move_on_after(5) as scope:
            await ws.receive()
        got.append(scope.cancelled_caught)
        timed_out.set()
        with trio.fail_after(5):
            got.append(await ws.receive())

    peer = await opened(nursery, typed(MessageContract(receive=Join), body))
    await timed_out.wait()
    await send_json(peer, {"type": "join", "room": "late"})
    await expect_normal_close(peer)
    assert got == [True, Join(type="join", room="late")]


async def test_pass_through(nursery: trio.Nursery) -> None:
    seen: dict[str, Any] = {}

    async def handler(request: WebSocketRequest) -> None:
        raw = await request.accept()
        contract = MessageContract(receive=Join)
        ws = TypedConnection(raw, contract)
        seen.update(
            connection=ws.connection is raw,
            contract=ws.contract is contract,
            path=ws.path,
            subprotocol=ws.subprotocol,
            server=(ws.is_server, ws.is_client),
            endpoints=(ws.local == raw.local, ws.remote == raw.remote),
            headers=(b"host", b"example.com") in ws.request_headers,
            handshake=ws.handshake_headers == raw.handshake_headers,
            response=ws.response_headers == raw.response_headers,
            compression=ws.compression == raw.compression,
            str=str(ws) == str(raw),
            repr="TypedConnection" in repr(ws),
        )
        seen["raw"] = await ws.get_message()  # outside the contract
        seen["json"] = await ws.receive_json()
        seen["model"] = await ws.receive_model(Say)
        await ws.send_message("text")
        await ws.send_json({"k": 1})
        await ws.pong(b"beat")
        seen["latency"] = ws.latency
        async with ws:
            assert ws.closed is None
        seen["closed"] = ws.closed

    peer = await opened(nursery, handler)
    await peer.send(TextMessage(data="raw"))
    await send_json(peer, {"any": "thing"})
    await send_json(peer, {"type": "say", "text": "s"})
    assert (await peer.expect(TextMessage)).data == "text"
    assert await expect_json(peer) == {"k": 1}
    assert (await peer.expect(Pong)).payload == b"beat"
    await expect_normal_close(peer)
    assert all(seen[k] is True for k in ("connection", "contract", "headers", "handshake"))
    assert seen["path"] == "/rpc?x=1"
    assert seen["subprotocol"] is None
    assert seen["server"] == (True, False)
    assert seen["endpoints"] == (True, True)
    assert seen["response"] and seen["compression"] and seen["str"] and seen["repr"]
    assert (seen["raw"], seen["json"]) == ("raw", {"any": "thing"})
    assert seen["model"] == Say(type="say", text="s")
    assert seen["latency"] is None
    assert seen["closed"] is not None and seen["closed"].code == 1000


async def test_ping_pass_through(nursery: trio.Nursery) -> None:
    latencies: list[float | None] = []

    async def body(ws: TypedConnection) -> None:
        await ws.ping(b"p")
        latencies.append(ws.latency)
        await ws.aclose(4000, "bye")

    peer = await opened(nursery, typed(MessageContract(), body))
    ping = await peer.expect(Ping)
    await peer.send(ping.response())
    event = await peer.expect(CloseConnection)
    assert (event.code, event.reason) == (4000, "bye")
    assert latencies and latencies[0] is not None and latencies[0] >= 0
