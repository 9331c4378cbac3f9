"""The ASGI 3 transport: the same App, handlers and requests, with Hypercorn owning the wire.

``App.__call__(scope, receive, send)`` lands here for the ``websocket``, ``http`` and
``lifespan`` scopes. The websocket scope becomes a :class:`~wsframework.WebSocketRequest` whose
transport is :class:`ASGIHandshake`; accepting gives an :class:`ASGIWebSocketConnection` with the
native connection's interface, so handlers cannot tell which server runs them.

Guards against what Hypercorn 0.18's trio worker does not do for us:

* an unoffered subprotocol is never accepted (the worker crashes when an app does):
  :meth:`WebSocketRequest.accept` raises ``ValueError`` first;
* after a disconnect the worker's ``send`` returns at once without a checkpoint, so a send loop
  would spin: a handler that sends 16 messages without receiving gets a reader task that
  notices the disconnect (sends then raise ``ConnectionClosed``), and every 16th such send
  yields so that task gets to run. A handler that receives does so itself, with no task hop;
* on cancellation (server shutdown) the connection is closed with 1001 in a shielded,
  time-limited scope, instead of the worker's bare TCP close 3 s later;
* the worker pings but never notices a missing pong: ``receive_timeout`` closes a connection
  that sent nothing for that long with 1011.

Never imports wsproto, h11, the native server or the App: the ASGI server does the protocol, and
the application is reached through :class:`ASGIApplication` (which the App satisfies), so the
Hypercorn path loads none of our own wire code.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import trio

from . import _stats as stats
from .accepts import UNSUPPORTED_DATA, FrameContract
from .exceptions import ConnectionClosed, MessageTypeError
from .handling import run_handler
from .http import HTTPAnswer, HTTPRequest, body_too_large, respond_http
from .interface import Endpoint, WebSocketConnection
from .message_queue import MessageQueue
from .options import ASGIOptions
from .protocol.close import CloseReason, check_close_code
from .protocol.deflate_options import parse_offer
from .request import Compression, WebSocketRequest

__all__ = ["ASGIApplication", "ASGIHandshake", "ASGIWebSocketConnection", "asgi_app"]

logger = logging.getLogger("wsframework")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

_YIELD_EVERY = 16
CLOSE_TIMEOUT = 1.0


class ASGIApplication(Protocol):
    """What :func:`asgi_app` needs from an application; :class:`~wsframework.App` has it.

    The seam between this transport and the framework above it: the transport builds requests
    and calls these, and never imports the App.
    """

    @property
    def asgi_options(self) -> ASGIOptions:
        """The limits of this transport (queue and message sizes, timeouts, body size)."""
        ...

    def handle_websocket(self, request: WebSocketRequest) -> Awaitable[None]:
        """Handle one WebSocket handshake and its connection (what to await); called through
        :func:`~wsframework.handling.run_handler`, which cancels it when the ASGI server
        cancels the call (then closes with 1001)."""
        ...

    async def handle_http(self, request: HTTPRequest) -> Any:
        """Answer one plain HTTP request: anything :func:`~wsframework.http.to_response` takes.
        Called through :func:`~wsframework.http.respond_http`; cancelled with the ASGI call."""
        ...

    def lifespan_context(self) -> AbstractAsyncContextManager[Any]:
        """Startup on entry, shutdown on exit."""
        ...


def _endpoint(value: Any) -> Endpoint | str:
    if isinstance(value, (list, tuple)) and len(value) >= 2:
        try:
            return Endpoint(value[0], int(value[1]), False)
        except ValueError:
            return f"{value[0]}:{value[1]}"
    return "unknown"


def _target(scope: Scope) -> str:
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope.get("path", "/")
    query: bytes = scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


class ASGIWebSocketConnection(WebSocketConnection):
    """A WebSocket connection carried by an ASGI server; the interface of
    :class:`~wsframework.WebSocketConnection`.

    Differences, imposed by ASGI: :meth:`ping` and :meth:`pong` raise ``RuntimeError`` (the
    server handles pings), ``compress=False`` is ignored (the server decides), and the close code
    reported for the client's close is what the server tells (Hypercorn: 1000 or 1006, no
    reason).
    """

    __slots__ = (
        "__weakref__",
        "_close_sent",
        "_frames",
        "_max_message_size",
        "_nursery",
        "_pending_close",
        "_queue",
        "_reader_started",
        "_receive",
        "_receive_timeout",
        "_receiving",
        "_response_headers",
        "_scope",
        "_send",
        "_sends_since_receive",
        "_subprotocol",
        "bytes_in",
        "bytes_out",
        "closed_by",
        "messages_in",
        "messages_out",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        nursery: trio.Nursery,
        *,
        subprotocol: str | None,
        response_headers: Headers,
        message_queue_size: int,
        max_message_size: int,
        receive_timeout: float | None,
        frames: FrameContract | None = None,
    ) -> None:
        self._scope = scope
        self._receive = receive
        self._send = send
        self._subprotocol = subprotocol
        self._response_headers = response_headers
        self._queue = MessageQueue(message_queue_size)
        self._max_message_size = max_message_size
        self._receive_timeout = receive_timeout
        self._frames = frames  # the route's frame-type check (None: any message goes)
        self._close_sent = False
        self._pending_close: tuple[int, str] | None = None
        self._nursery = nursery
        self._reader_started = False
        self._receiving = False
        self._sends_since_receive = 0
        # What _stats counts: messages, their payload sizes (text in characters), who closed.
        self.messages_in = self.messages_out = self.bytes_in = self.bytes_out = 0
        self.closed_by: str | None = None

    # -- facts

    @property
    def closed(self) -> CloseReason | None:
        """Why the connection was or is being closed, else ``None``."""
        return self._queue.reason

    @property
    def is_client(self) -> bool:
        """Always ``False``."""
        return False

    @property
    def local(self) -> Endpoint | str:
        """The server's endpoint as the ASGI server reports it."""
        return _endpoint(self._scope.get("server"))

    @property
    def remote(self) -> Endpoint | str:
        """The client's endpoint as the ASGI server reports it."""
        return _endpoint(self._scope.get("client"))

    @property
    def path(self) -> str:
        """The requested path with the query string."""
        return _target(self._scope)

    @property
    def subprotocol(self) -> str | None:
        """The negotiated subprotocol, or ``None``."""
        return self._subprotocol

    @property
    def request_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The request headers."""
        return tuple((bytes(k), bytes(v)) for k, v in self._scope.get("headers", ()))

    @property
    def response_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The extra headers we asked the server to send with its 101 response."""
        return tuple(self._response_headers)

    @property
    def compression(self) -> bool:
        """Unknown under ASGI: always ``False``."""
        return False

    @property
    def latency(self) -> float | None:
        """Unknown under ASGI: always ``None``."""
        return None

    def __str__(self) -> str:
        return f"asgi-server-{id(self):x}"

    # -- messages

    async def get_message(self) -> str | bytes:
        """Receive the next message; see :meth:`WebSocketConnection.get_message`.

        Until a reader task is needed (see :meth:`send_message`), the calling task receives
        from the server itself: no task hop per message. Cancelling is safe (a message is only
        taken when returned); bound it with ``trio.move_on_after`` or ``trio.fail_after``.

        Raises:
            ConnectionClosed: the connection is closed and no message is pending.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        queue = self._queue
        while (message := queue.take()) is None:
            if self._reader_started or self._receiving:
                await queue.consumers.park()
                continue
            self._receiving = True
            try:
                event = await self._next_event()
            finally:
                self._receiving = False
            self._sends_since_receive = 0
            if event is not None:
                message = self._on_event(event)
                await self._flush_pending_close()
                if message is not None:
                    return message
        return message

    async def send_message(self, message: str | bytes, *, compress: bool = True) -> None:
        """Send one message; see :meth:`WebSocketConnection.send_message`.

        It waits as long as the ASGI server's ``send`` does; cancelling it is as safe as
        cancelling that ``send``. Bound a whole exchange with ``trio.move_on_after``.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            TypeError: ``message`` is neither text nor bytes.
        """
        if isinstance(message, str):
            event: Message = {"type": "websocket.send", "text": message}
        elif isinstance(message, (bytes, bytearray, memoryview)):
            event = {"type": "websocket.send", "bytes": bytes(message)}
        else:
            raise MessageTypeError(f"message must be str or bytes, not {type(message).__name__}")
        if self._queue.reason is not None:
            raise ConnectionClosed(self._queue.reason)
        await self._send(event)
        self.messages_out += 1
        self.bytes_out += len(message)
        # The worker's send may return without a checkpoint (always, after a disconnect). A
        # handler that keeps sending without receiving gets a reader task to notice the
        # disconnect, and a yield now and then so that task can run.
        self._sends_since_receive += 1
        if self._sends_since_receive >= _YIELD_EVERY:
            self._sends_since_receive = 0
            if not self._reader_started and not self._receiving:
                self._reader_started = True
                self._nursery.start_soon(self._reader_task)
            await trio.lowlevel.cancel_shielded_checkpoint()

    async def ping(self, payload: bytes | None = None) -> None:
        """Not available under ASGI: the server sends pings itself. Raises at once, so there
        is nothing to cancel or time out.

        Raises:
            RuntimeError: always.
        """
        raise RuntimeError("ping() is not available under ASGI: the ASGI server handles pings")

    async def pong(self, payload: bytes | None = None) -> None:
        """Not available under ASGI. Raises at once, so there is nothing to cancel or time
        out.

        Raises:
            RuntimeError: always.
        """
        raise RuntimeError("pong() is not available under ASGI: the ASGI server handles pongs")

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        """Close with ``code`` and ``reason``; idempotent. Shielded from cancellation and
        bounded by 1 s, so it needs no timeout of its own.

        Raises:
            ValueError: ``code`` may not be sent in a close frame.
        """
        check_close_code(code)
        self._set_closed(CloseReason(code, reason), local=True)
        await self._send_close(code, reason)

    # -- internals

    async def going_away(self, code: int = 1001, reason: str = "server shutting down") -> None:
        """Close at once for a shutdown: send ``websocket.close`` unless one was sent or the
        client left. Shielded and bounded by 1 s, so it needs no timeout of its own.

        Raises:
            ValueError: ``code`` may not be sent in a close frame.
        """
        check_close_code(code)
        if not self._close_sent:
            self._queue.close(CloseReason(code, reason), discard=True, replace=True)
            await self._send_close(code, reason)

    def _set_closed(self, reason: CloseReason, *, local: bool = False) -> None:
        self._queue.close(reason, discard=local)

    async def _send_close(self, code: int, reason: str | None) -> None:
        if self._close_sent:
            return
        self._close_sent = True
        self.closed_by = self.closed_by or "local"
        with trio.CancelScope(shield=True, deadline=trio.current_time() + CLOSE_TIMEOUT):
            try:
                await self._send({"type": "websocket.close", "code": code, "reason": reason or ""})
            except Exception:  # the server already considers the connection gone
                logger.debug("%s: websocket.close could not be sent", self, exc_info=True)

    async def _next_event(self) -> Message | None:
        """The next event from the server; ``None`` after closing for ``receive_timeout``."""
        if self._receive_timeout is None:
            return await self._receive()
        received: Message | None = None
        with trio.move_on_after(self._receive_timeout):
            received = await self._receive()
        if received is None:
            reason = f"no message for {self._receive_timeout:g} s"
            self._set_closed(CloseReason(1011, reason))
            await self._send_close(1011, reason)
        return received

    def _on_event(self, event: Message) -> str | bytes | None:
        """A message to deliver, or ``None`` (closed, or nothing for the handler)."""
        kind = event.get("type")
        if kind == "websocket.receive":
            text = event.get("text")
            data: str | bytes = text if text is not None else (event.get("bytes") or b"")
            if len(data) > self._max_message_size:
                reason = f"message exceeds {self._max_message_size} bytes"
                self._set_closed(CloseReason(1009, reason))
                self._pending_close = (1009, reason)
                return None
            if self._queue.reason is not None:
                return None
            if self._frames is not None and (refused := self._frames.refuses(data, self)):
                self._set_closed(CloseReason(UNSUPPORTED_DATA, refused))
                self._pending_close = (UNSUPPORTED_DATA, refused)
                return None
            self.messages_in += 1
            self.bytes_in += len(data)
            return data
        if kind == "websocket.disconnect":
            self.closed_by = self.closed_by or "remote"
            self._close_sent = True  # nothing can be sent any more
            self._set_closed(CloseReason(int(event.get("code", 1005)), event.get("reason") or None))
        return None

    async def _reader_task(self) -> None:
        """Move ASGI receive events into the queue until the client disconnects."""
        try:
            while self._queue.reason is None:
                event = await self._next_event()
                if event is None:
                    return
                data = self._on_event(event)
                if data is not None:
                    await self._queue.put(data)
        finally:
            await self._flush_pending_close()
            self._set_closed(CloseReason(1006, None))

    async def _flush_pending_close(self) -> None:
        if self._pending_close is not None:
            code, reason = self._pending_close
            self._pending_close = None
            await self._send_close(code, reason)


class ASGIHandshake:
    """The transport behind a :class:`WebSocketRequest` that came through ASGI."""

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        nursery: trio.Nursery,
        options: ASGIOptions,
    ) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.nursery = nursery
        self.options = options
        self.connection: ASGIWebSocketConnection | None = None

    @property
    def local(self) -> Endpoint | str:
        return _endpoint(self.scope.get("server"))

    @property
    def remote(self) -> Endpoint | str:
        return _endpoint(self.scope.get("client"))

    async def accept(
        self,
        subprotocol: str | None,
        extra_headers: Headers,
        compression: Compression,
        frames: FrameContract | None,
    ) -> ASGIWebSocketConnection:
        """Send ``websocket.accept`` and return the connection (called by
        :meth:`WebSocketRequest.accept`, which checked the arguments). It waits as long as the
        ASGI server's ``send`` does; cancelling it leaves the handshake to the server.
        ``compression`` is ignored: the ASGI server negotiates permessage-deflate itself."""
        await self.send(
            {"type": "websocket.accept", "subprotocol": subprotocol, "headers": extra_headers}
        )
        connection = ASGIWebSocketConnection(
            self.scope,
            self.receive,
            self.send,
            self.nursery,
            subprotocol=subprotocol,
            response_headers=extra_headers,
            message_queue_size=self.options.message_queue_size,
            max_message_size=self.options.max_message_size,
            receive_timeout=self.options.receive_timeout,
            frames=frames,
        )
        self.connection = connection
        stats.opened(connection, connection)
        return connection

    async def reject(self, status_code: int, extra_headers: Headers, body: bytes) -> None:
        """Refuse the handshake with an HTTP response (the ``websocket.http.response``
        extension), or with the server's 403 when it lacks the extension (called by
        :meth:`WebSocketRequest.reject`). It waits as long as the ASGI server's ``send`` does;
        cancelling it leaves the handshake to the server."""
        stats.handshake("rejected", status_code)
        if "websocket.http.response" in self.scope.get("extensions", {}):
            headers = list(extra_headers)
            if body and not any(k.lower() == b"content-type" for k, _ in headers):
                headers.append((b"content-type", b"text/plain; charset=utf-8"))
            await self.send(
                {"type": "websocket.http.response.start", "status": status_code, "headers": headers}
            )
            await self.send({"type": "websocket.http.response.body", "body": body})
        else:
            # Without the extension the server answers a close-before-accept with 403.
            await self.send({"type": "websocket.close", "code": 1000})


async def asgi_app(app: ASGIApplication, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one ASGI call for ``app`` (``App.__call__`` is this).

    The ASGI server cancels it to stop: a WebSocket connection is then closed with 1001
    (shielded, bounded by 1 s), an HTTP request gets no answer, the lifespan runs its shutdown.

    Raises:
        ValueError: the scope type is not ``websocket``, ``http`` or ``lifespan``.
    """
    kind = scope["type"]
    if kind == "websocket":
        await _websocket(app, scope, receive, send)
    elif kind == "http":
        await _http(app, scope, receive, send)
    elif kind == "lifespan":
        await _lifespan(app, scope, receive, send)
    else:
        raise ValueError(f"unsupported ASGI scope type {kind!r}")


async def _websocket(app: ASGIApplication, scope: Scope, receive: Receive, send: Send) -> None:
    event = await receive()
    if event.get("type") != "websocket.connect":  # pragma: no cover - the spec guarantees it
        return
    options: ASGIOptions = app.asgi_options
    async with trio.open_nursery() as nursery:
        transport = ASGIHandshake(scope, receive, send, nursery, options)
        refusal = _invalid_deflate_offer(scope)
        if refusal is not None:
            await transport.reject(400, [], refusal.encode())
            return
        request = WebSocketRequest(
            transport,
            path=_target(scope),
            headers=[(bytes(k), bytes(v)) for k, v in scope.get("headers", ())],
            subprotocols=scope.get("subprotocols", ()),
            root_path=scope.get("root_path", ""),
        )
        try:
            # run_handler closes with 1001 (shielded, bounded) if the server cancels us.
            await run_handler(app.handle_websocket, request, options.disconnect_timeout)
        finally:
            nursery.cancel_scope.cancel()


def _invalid_deflate_offer(scope: Scope) -> str | None:
    """Why the request's permessage-deflate offers must be refused, or ``None``.

    The ASGI server negotiates the extension itself, and cannot be told to decline one offer:
    Hypercorn 0.18 (wsproto 1.3) accepts an unknown or duplicated parameter or a flag with a
    value, and a window size that is not a number crashes it. So an invalid offer (RFC 7692
    section 5) fails the whole handshake with 400 here, before the application runs.
    """
    for name, value in scope.get("headers", ()):
        if bytes(name).lower() != b"sec-websocket-extensions":
            continue
        for offer in bytes(value).decode("latin-1").split(","):
            if offer.split(";", 1)[0].strip().lower() != "permessage-deflate":
                continue
            try:
                parse_offer(offer)
            except ValueError as exc:
                return f"invalid permessage-deflate offer: {exc}\n"
    return None


async def _http(app: ASGIApplication, scope: Scope, receive: Receive, send: Send) -> None:
    limit = app.asgi_options.max_http_body
    body = bytearray()
    while True:
        event = await receive()
        if event["type"] == "http.disconnect":
            return
        body += event.get("body", b"")
        if len(body) > limit:
            request_line = f"{scope.get('method', 'GET')} {_target(scope)}"
            await _send_answer(send, body_too_large(request_line, limit))
            return
        if not event.get("more_body", False):
            break
    client = scope.get("client")
    request = HTTPRequest(
        scope.get("method", "GET"),
        _target(scope),
        [(bytes(k), bytes(v)) for k, v in scope.get("headers", ())],
        bytes(body),
        (client[0], int(client[1])) if client else None,
        root_path=scope.get("root_path", ""),
    )
    await _send_answer(send, await respond_http(app.handle_http, request))


async def _send_answer(send: Send, answer: HTTPAnswer) -> None:
    await send(
        {"type": "http.response.start", "status": answer.status_code, "headers": answer.headers}
    )
    await send({"type": "http.response.body", "body": answer.body})


async def _lifespan(app: ASGIApplication, scope: Scope, receive: Receive, send: Send) -> None:
    event = await receive()
    if event["type"] != "lifespan.startup":  # pragma: no cover - the spec guarantees it
        return
    started = False
    try:
        async with app.lifespan_context():
            state = scope.get("state")
            if isinstance(state, dict):
                state["app"] = app
            started = True
            await send({"type": "lifespan.startup.complete"})
            event = await receive()  # lifespan.shutdown
    except Exception as exc:
        logger.exception("lifespan %s failed", "shutdown" if started else "startup")
        kind = "lifespan.shutdown.failed" if started else "lifespan.startup.failed"
        await send({"type": kind, "message": f"{type(exc).__name__}: {exc}"})
        return
    await send({"type": "lifespan.shutdown.complete"})
