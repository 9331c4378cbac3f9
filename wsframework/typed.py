"""Typed messages: JSON messages validated with pydantic 2.

This is the only module of wsframework that imports pydantic, and nothing imports it unless
typed messages are used (:meth:`WebSocketConnection.receive_model` and
:meth:`~WebSocketConnection.send_model` import it lazily, the App only for routes with a
message contract). Install pydantic with ``pip install 'wsframework[typed]'``.

* :func:`validate_message` / :func:`dump_message`: one message to a validated value and back;
* :class:`MessageContract`: what a route receives and sends, and what happens to an inbound
  message that does not validate (``on_invalid``);
* :class:`TypedConnection`: a :class:`~wsframework.WebSocketConnection` that enforces a contract.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import types
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, cast, get_args, get_origin, overload

try:
    import pydantic
    from pydantic import BaseModel, TypeAdapter, ValidationError
    from pydantic_core import PydanticSerializationError
except ImportError as _exc:  # pragma: no cover - depends on the environment
    raise ImportError("typed messages need pydantic 2: pip install 'wsframework[typed]'") from _exc

from typing import TypeAlias

from typing_extensions import TypeVar

from .exceptions import ConnectionClosed, InvalidMessage
from .interface import MessageIterator, PreparedMessage, WebSocketConnection
from .request import WebSocketRequest

if TYPE_CHECKING:
    from .interface import Endpoint
    from .protocol.close import CloseReason

__all__ = [
    "INVALID_CLOSE_CODE",
    "MessageContract",
    "OnInvalid",
    "ReceiveT",
    "SendT",
    "TypedConnection",
    "TypedRequest",
    "dump_message",
    "receive_model",
    "send_model",
    "validate_message",
]

logger = logging.getLogger("wsframework")

M = TypeVar("M")

#: What a :class:`TypedConnection` receives (``receive()``, ``async for``); ``Any`` by default.
ReceiveT = TypeVar("ReceiveT", default=Any, covariant=True)
#: What a :class:`TypedConnection` sends (``send()``); ``Any`` by default.
SendT = TypeVar("SendT", default=Any, contravariant=True)

#: What to do with an inbound message that fails validation.
OnInvalid = Literal["close", "reply", "ignore"]
_POLICIES: tuple[str, ...] = ("close", "reply", "ignore")

#: The close code of the ``"close"`` policy: 1007, "invalid frame payload data" (RFC 6455).
INVALID_CLOSE_CODE = 1007

_MAX_REASON_BYTES = 123
_UNION_TYPES: tuple[Any, ...] = (typing.Union, types.UnionType)

# ---------------------------------------------------------------------------- adapters


@functools.lru_cache(maxsize=512)
def _cached_adapter(tp: Any) -> TypeAdapter[Any]:
    return TypeAdapter(tp)


def _adapter(tp: Any) -> TypeAdapter[Any]:
    """The ``TypeAdapter`` for ``tp``, built once per (hashable) type.

    Equal types share an adapter (``Join | Say`` written twice is one entry). An
    ``Annotated[..., Field(...)]`` alias compares by the identity of its ``FieldInfo``, so define
    such an alias once (at module level) rather than in a loop. Unhashable types get a fresh
    adapter each time.
    """
    try:
        return _cached_adapter(tp)
    except TypeError:  # unhashable
        return TypeAdapter(tp)


def _type_name(tp: Any) -> str:
    """``Join | Say`` for classes and unions of classes, else the type's repr."""
    classes = _plain_classes(tp)
    if classes is not None:
        return " | ".join("None" if c is type(None) else c.__qualname__ for c in classes)
    return repr(tp).replace("typing.", "")


def _loc_text(loc: Any) -> str:
    return ".".join(str(part) for part in loc) if loc else ""


def _summary(errors: list[dict[str, Any]]) -> str:
    """``"<loc>: <msg>"`` of the first error (``"<msg>"`` when at the top level)."""
    if not errors:
        return "validation failed"
    first = errors[0]
    loc = _loc_text(first.get("loc"))
    msg = str(first.get("msg", "validation failed"))
    text = f"{loc}: {msg}" if loc else msg
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more)"
    return text


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "backslashreplace")
    return str(value)


def _json_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """``exc.errors()`` without URLs, made JSON-safe (``loc`` a list, inputs that are not valid
    UTF-8 escaped, exceptions in ``ctx`` as text). ``exc.json()`` fails on non-UTF-8 bytes."""
    return [_json_safe(error) for error in exc.errors(include_url=False)]


def _truncate_utf8(text: str, limit: int = _MAX_REASON_BYTES) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


# ---------------------------------------------------------------------------- one message


@overload
def validate_message(model: type[M], message: str | bytes) -> M: ...
@overload
def validate_message(model: Any, message: str | bytes) -> Any: ...
def validate_message(model: Any, message: str | bytes) -> Any:
    """Parse a JSON message and validate it against ``model``.

    Args:
        model: a pydantic model class, or any type pydantic can validate, e.g. a discriminated
            union ``Annotated[Join | Say, Field(discriminator="type")]``, ``list[Event]`` or a
            ``TypedDict``. The ``TypeAdapter`` is built on first use and cached per type.
        message: the raw message, text or UTF-8 bytes.

    Returns:
        The validated value (an instance of ``model`` for a model class).

    Raises:
        InvalidMessage: the message is not JSON or does not validate. ``errors`` is pydantic's
            error list made JSON-safe (``loc`` is a list, no URLs); a JSON syntax error is one
            entry of type ``json_invalid``. The text names the first error's location and
            message. ``InvalidMessage`` is also a ``ValueError``.
    """
    try:
        return _adapter(model).validate_json(message)
    except ValidationError as exc:
        errors = _json_errors(exc)
        raise InvalidMessage(f"invalid message: {_summary(errors)}", errors, message) from None


def dump_message(instance: Any) -> str:
    """The JSON text of a pydantic model instance (``instance.model_dump_json()``).

    Raises:
        TypeError: ``instance`` is not a pydantic ``BaseModel`` instance.
    """
    if not isinstance(instance, BaseModel):
        raise TypeError(f"expected a pydantic model instance, not {type(instance).__name__}")
    return instance.model_dump_json()


async def receive_model(connection: WebSocketConnection, model: type[M]) -> M:
    """Receive one message on ``connection`` and validate it as the pydantic ``model`` (or any
    type pydantic can validate, e.g. a discriminated union).

    Cancellation and timeouts as for :meth:`~wsframework.WebSocketConnection.get_message`:
    cancelling is safe, no message is lost; bound it with ``trio.fail_after``.

    Raises:
        ConnectionClosed: the connection is closed.
        InvalidMessage: the message does not validate; ``errors`` lists pydantic's findings.
    """
    return validate_message(model, await connection.get_message())


async def send_model(connection: WebSocketConnection, instance: Any) -> None:
    """Send a pydantic model instance on ``connection`` as one JSON text message.

    Cancellation and timeouts as for :meth:`~wsframework.WebSocketConnection.send_message`.

    Raises:
        ConnectionClosed: the connection is closed or closing.
        TypeError: ``instance`` is not a pydantic model.
    """
    await connection.send_message(dump_message(instance))


# ---------------------------------------------------------------------------- contracts


def _plain_classes(tp: Any) -> tuple[type, ...] | None:
    """The member classes of ``tp`` (a class, a union of classes, possibly ``Annotated``) that
    an ``isinstance`` check can test, or ``None`` when ``tp`` is anything else."""
    if get_origin(tp) is typing.Annotated:
        return _plain_classes(get_args(tp)[0])
    if get_origin(tp) in _UNION_TYPES:
        members: list[type] = []
        for arg in get_args(tp):
            sub = _plain_classes(arg)
            if sub is None:
                return None
            members.extend(sub)
        return tuple(members)
    if tp is type(None):
        return (type(None),)
    if (
        inspect.isclass(tp)
        and get_origin(tp) is None
        and tp is not Any
        and not typing.is_typeddict(tp)
        and not getattr(tp, "_is_protocol", False)
    ):
        return (tp,)
    return None


@dataclass(frozen=True)
class MessageContract:
    """What a route receives and sends, and what to do with invalid inbound messages.

    The App builds one from ``@app.websocket(path, receive=..., send=..., on_invalid=...)`` and
    wraps the route's accepted connection in a :class:`TypedConnection`.

    Attributes:
        receive: the type inbound messages are validated against (a pydantic model class, a
            discriminated union, any type pydantic validates), or ``None`` for raw messages.
        send: the type outbound values must have, or ``None`` for any model or JSON value.
        on_invalid: what happens to an inbound message that fails validation: ``"close"``
            closes the connection with 1007, ``"reply"`` answers with an error message and
            goes on, ``"ignore"`` drops it (logged at DEBUG). See :meth:`TypedConnection.receive`.

    Raises:
        ValueError: ``on_invalid`` is not one of ``"close"``, ``"reply"``, ``"ignore"``.
        TypeError: pydantic cannot build a validator for ``receive`` or ``send``.
    """

    receive: Any | None = None
    send: Any | None = None
    on_invalid: OnInvalid = "close"
    _send_classes: tuple[type, ...] | None = field(
        init=False, repr=False, compare=False, default=None
    )

    def __post_init__(self) -> None:
        if self.on_invalid not in _POLICIES:
            allowed = ", ".join(repr(p) for p in _POLICIES)
            raise ValueError(f"on_invalid must be one of {allowed}, got {self.on_invalid!r}")
        for name in ("receive", "send"):
            tp = getattr(self, name)
            if tp is None:
                continue
            try:
                _adapter(tp)  # fail at registration, not on the first message
            except pydantic.PydanticUserError as exc:  # unsupported type, bad discriminator...
                raise TypeError(f"{name}={_type_name(tp)}: {exc}") from exc
        if self.send is not None:
            object.__setattr__(self, "_send_classes", _plain_classes(self.send))

    def wrap(self, connection: WebSocketConnection) -> TypedConnection[Any, Any]:
        """``connection`` enforcing this contract: what ``request.accept()`` returns on a route
        declared with it."""
        return TypedConnection(connection, self)

    def check_send(self, value: Any) -> str:
        """The JSON text to send for ``value``, after checking it against :attr:`send`.

        With ``send`` a model class or a union of classes, ``value`` must be an instance of one
        of them (no coercion from dicts). With any other type, ``value`` must pass pydantic's
        strict validation of that type. With ``send=None``, a model instance is dumped with
        ``model_dump_json()`` and anything else with ``json.dumps``.

        Raises:
            TypeError: ``value`` does not match ``send`` (names the expected and actual types),
                or is not JSON-serialisable.
        """
        expected = self.send
        if expected is None:
            if isinstance(value, BaseModel):
                return value.model_dump_json()
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        classes = self._send_classes
        if classes is not None:
            if not isinstance(value, classes):
                raise TypeError(
                    f"send expects {_type_name(expected)}, got {type(value).__qualname__}"
                )
        else:
            try:
                _adapter(expected).validate_python(value, strict=True)
            except ValidationError as exc:
                raise TypeError(
                    f"send expects {_type_name(expected)}, got {type(value).__qualname__}: "
                    f"{_summary(_json_errors(exc))}"
                ) from None
        if isinstance(value, BaseModel):
            return value.model_dump_json()
        try:
            return _adapter(expected).dump_json(value).decode("utf-8")
        except PydanticSerializationError as exc:
            raise TypeError(f"cannot serialise {type(value).__qualname__}: {exc}") from None


# ---------------------------------------------------------------------------- connection


class TypedConnection(WebSocketConnection, Generic[ReceiveT, SendT]):
    """A :class:`~wsframework.WebSocketConnection` that enforces a :class:`MessageContract`.

    ``TypedConnection[In, Out]`` receives ``In`` values and sends ``Out`` values, for type
    checkers (the contract checks at run time); a bare ``TypedConnection`` is
    ``TypedConnection[Any, Any]``. A route handler gets one typed from its annotation
    ``request: TypedRequest[In, Out]``.

    Route handlers of an App get one from ``request.accept()`` when the route declares
    ``receive``, ``send`` or ``on_invalid``; you can also wrap a connection yourself with
    ``TypedConnection(ws, MessageContract(receive=..., send=...))``.

    :meth:`receive` and ``async for`` yield validated values, :meth:`send` checks its argument.
    Everything else (:meth:`get_message`, :meth:`send_message`, :meth:`receive_json`,
    :meth:`send_json`, :meth:`ping`, :meth:`aclose`, :attr:`closed`, ...) is the wrapped
    connection's, unchecked, which is the way out for a message outside the contract.

    Iterating (``async for message in ws``) yields validated messages until the connection
    closes; a normal closure (1000 or 1001) ends the loop quietly, any other code raises
    :exc:`~wsframework.ConnectionClosed`, including the 1007 of the ``"close"`` policy.
    """

    def __init__(self, connection: WebSocketConnection, contract: MessageContract) -> None:
        self._ws = connection
        self._contract = contract

    # ------------------------------------------------------------------ typed API

    @property
    def connection(self) -> WebSocketConnection:
        """The wrapped connection."""
        return self._ws

    @property
    def contract(self) -> MessageContract:
        """The contract this connection enforces."""
        return self._contract

    async def receive(self) -> ReceiveT:
        """The next inbound message, validated against ``contract.receive``.

        With ``receive=None`` this returns the raw message (``str`` or ``bytes``) like
        :meth:`get_message`. Otherwise a message that is not JSON or does not validate is
        handled by ``contract.on_invalid``:

        * ``"close"``: the connection is closed with code 1007 and the reason
          ``"invalid message: <loc>: <msg>"`` (at most 123 bytes of UTF-8), then
          :exc:`ConnectionClosed` is raised (its ``__cause__`` is the :exc:`InvalidMessage`);
        * ``"reply"``: the peer gets the text message
          ``{"type": "error", "error": "invalid_message", "detail": [...]}`` (``detail`` is the
          error list, each entry with ``type``, ``loc`` and ``msg``) and this call waits for
          the next message;
        * ``"ignore"``: the message is dropped (logged at DEBUG) and this call waits for the
          next one.

        Cancelling is as safe as cancelling :meth:`get_message` while it waits: no message is
        lost. A cancel that lands while an error reply is being written has the caveats of
        :meth:`send_message`; one that lands during the 1007 close has those of :meth:`aclose`
        (the connection still ends up closed). For a timeout wrap the call in
        ``with trio.move_on_after(seconds):`` (gives up quietly) or ``trio.fail_after`` (raises
        ``trio.TooSlowError``); note that under ``"reply"``/``"ignore"`` invalid messages do not
        reset such a deadline.

        Raises:
            ConnectionClosed: the connection is closed, or was just closed by the ``"close"``
                policy (``reason.code == 1007``).
        """
        contract = self._contract
        model = contract.receive
        while True:
            message = await self._ws.get_message()
            if model is None:
                return cast(ReceiveT, message)
            try:
                return cast(ReceiveT, validate_message(model, message))
            except InvalidMessage as exc:
                await self._on_invalid(exc)

    async def _on_invalid(self, exc: InvalidMessage) -> None:
        policy = self._contract.on_invalid
        if policy == "ignore":
            logger.debug("%s: ignoring an invalid message: %s", self._ws, exc)
            return
        if policy == "reply":
            detail = [
                {"type": e.get("type"), "loc": e.get("loc", []), "msg": e.get("msg")}
                for e in exc.errors
            ]
            await self._ws.send_json(
                {"type": "error", "error": "invalid_message", "detail": detail}
            )
            return
        reason = _truncate_utf8(str(exc))
        logger.info("%s closing with %d: %s", self._ws, INVALID_CLOSE_CODE, reason)
        await self._ws.aclose(INVALID_CLOSE_CODE, reason)
        raise ConnectionClosed(self._ws.closed) from exc

    # Iterating yields validated values, not the raw messages of the interface: the one place a
    # TypedConnection is not a drop-in WebSocketConnection, and the reason it exists.
    def __aiter__(self) -> MessageIterator[ReceiveT]:  # type: ignore[override]
        return MessageIterator(self.receive)

    async def send(self, value: SendT) -> None:
        """Check ``value`` against ``contract.send`` and send it as one JSON text message.

        With ``send`` a model class or a union of model classes, ``value`` must be an instance
        of one of them; with another type it must pass pydantic's strict validation; with
        ``send=None`` any model instance or JSON-serialisable value goes. Nothing is sent when
        the check fails.

        Cancellation and timeouts as for :meth:`send_message`: a cancel while the kernel is
        slow to take the bytes may leave a partial frame, after which the connection is
        closed; bound a whole exchange with ``trio.move_on_after`` rather than single sends.

        Raises:
            TypeError: ``value`` does not match ``contract.send`` (the message names the
                expected and the actual type) or is not JSON-serialisable.
            ConnectionClosed: the connection is closed or closing.
        """
        await self._ws.send_message(self._contract.check_send(value))

    async def send_model(self, instance: SendT) -> None:
        """:meth:`send` under another name (for code written for a plain connection); cancel
        and time out as for :meth:`send`."""
        await self.send(instance)

    async def receive_model(self, model: type[M]) -> M:
        """Receive one message validated against ``model``, ignoring the contract.

        Raises :exc:`InvalidMessage` for an invalid message (no ``on_invalid`` policy).
        Cancellation as for :meth:`get_message`.
        """
        return validate_message(model, await self._ws.get_message())

    # ------------------------------------------------------------------ pass-through

    async def get_message(self) -> str | bytes:
        """The wrapped connection's :meth:`~WebSocketConnection.get_message`, unchecked (and
        cancelled or timed out as it is)."""
        return await self._ws.get_message()

    async def send_message(self, message: str | bytes, *, compress: bool = True) -> None:
        """The wrapped connection's :meth:`~WebSocketConnection.send_message`, unchecked (and
        cancelled or timed out as it is)."""
        await self._ws.send_message(message, compress=compress)

    async def send_prepared(self, prepared: PreparedMessage) -> None:
        """The wrapped connection's :meth:`~WebSocketConnection.send_prepared`, unchecked (a
        room's publications; cancelled or timed out as it is)."""
        await self._ws.send_prepared(prepared)

    def send_prepared_nowait(self, prepared: PreparedMessage) -> bool:
        """The wrapped connection's :meth:`~WebSocketConnection.send_prepared_nowait`."""
        return self._ws.send_prepared_nowait(prepared)

    async def receive_json(self) -> Any:
        """The wrapped connection's :meth:`~WebSocketConnection.receive_json`, unchecked (cancel
        as it is)."""
        return await self._ws.receive_json()

    async def send_json(self, obj: Any) -> None:
        """The wrapped connection's ``send_json``, unchecked (cancel as it is)."""
        await self._ws.send_json(obj)

    async def ping(self, payload: bytes | None = None) -> None:
        """The wrapped connection's :meth:`~WebSocketConnection.ping` (cancel as it is)."""
        await self._ws.ping(payload)

    async def pong(self, payload: bytes | None = None) -> None:
        """The wrapped connection's :meth:`~WebSocketConnection.pong` (cancel as it is)."""
        await self._ws.pong(payload)

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        """The wrapped connection's :meth:`~WebSocketConnection.aclose` (safe to cancel)."""
        await self._ws.aclose(code, reason)

    async def going_away(self, code: int = 1001, reason: str = "server shutting down") -> None:
        """The wrapped connection's :meth:`~WebSocketConnection.going_away` (shielded, bounded
        by 1 s: no need to cancel it or time it out)."""
        await self._ws.going_away(code, reason)

    @property
    def closed(self) -> CloseReason | None:
        """Why the connection was or is being closed, else ``None``."""
        return self._ws.closed

    @property
    def is_client(self) -> bool:
        """Is this a client connection?"""
        return self._ws.is_client

    @property
    def is_server(self) -> bool:
        """Is this a server connection?"""
        return self._ws.is_server

    @property
    def local(self) -> Endpoint | str:
        """The local endpoint of the connection."""
        return self._ws.local

    @property
    def remote(self) -> Endpoint | str:
        """The remote endpoint of the connection."""
        return self._ws.remote

    @property
    def path(self) -> str:
        """The requested URL path (with the query string)."""
        return self._ws.path

    @property
    def subprotocol(self) -> str | None:
        """The negotiated subprotocol, or ``None``."""
        return self._ws.subprotocol

    @property
    def handshake_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The HTTP headers the remote side sent during the handshake."""
        return self._ws.handshake_headers

    @property
    def request_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The headers of the opening handshake request."""
        return self._ws.request_headers

    @property
    def response_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The headers of the ``101 Switching Protocols`` response."""
        return self._ws.response_headers

    @property
    def compression(self) -> bool:
        """Whether permessage-deflate was negotiated."""
        return self._ws.compression

    @property
    def latency(self) -> float | None:
        """Round-trip time in seconds of the last answered ping, else ``None``."""
        return self._ws.latency

    def __str__(self) -> str:
        return str(self._ws)

    def __repr__(self) -> str:
        return f"<TypedConnection {self._ws!r} {self._contract!r}>"


#: The request of a route with a message contract, for the handler's annotation:
#: ``async def rpc(request: TypedRequest[Call, Result]) -> None`` makes ``await
#: request.accept()`` a ``TypedConnection[Call, Result]``, whose ``receive()`` and ``async
#: for`` give ``Call`` values and whose ``send()`` takes ``Result`` values.
TypedRequest: TypeAlias = WebSocketRequest[TypedConnection[ReceiveT, SendT]]
