"""HTTP/1.1 on a raw stream, before any upgrade: reading the opening handshake, answering with an
HTTP response, serving a plain HTTP request. Used by our own server (and so by the test client);
the ASGI transport leaves all of this to its server."""

from __future__ import annotations

import trio

from ._sockio import receive_now
from .exceptions import InvalidHandshake
from .http import HTTPHandler, HTTPRequest, Response, body_too_large, render, respond_http
from .interface import stream_endpoint
from .options import ServerOptions
from .protocol.handshake import (
    HandshakeRequest,
    ServerHandshake,
    UpgradeRequired,
    build_http_response,
)

__all__ = ["read_handshake", "read_handshake_now", "send_http_response", "serve_http"]

Headers = list[tuple[bytes, bytes]]


async def send_http_response(
    stream: trio.abc.Stream, status_code: int, headers: Headers, body: bytes
) -> None:
    """Write a whole HTTP response and close the stream, ignoring a peer that already left.

    The write is bounded by 5 s and the stream is closed even if this is cancelled.
    """
    try:
        with trio.move_on_after(5):
            await stream.send_all(build_http_response(status_code, headers, body))
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass
    finally:
        await trio.aclose_forcefully(stream)


async def read_handshake(
    stream: trio.abc.Stream,
    receive_buffer_size: int,
    handshake: ServerHandshake | None = None,
) -> HandshakeRequest:
    """Read and check the opening handshake request.

    Not bounded by itself: wrap it in ``trio.move_on_after`` (the server uses
    ``connect_timeout``). Cancelling it is safe; the stream is left to the caller to close.

    Raises:
        InvalidHandshake: the request is malformed (answer with ``exc.status_code``);
            :class:`UpgradeRequired` for a plain HTTP request.
        EOFError: the peer left before finishing its request.
    """
    handshake = handshake or ServerHandshake()
    while True:
        try:
            data = await stream.receive_some(receive_buffer_size)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise EOFError(str(exc)) from exc
        request = handshake.receive_data(bytes(data))
        if request is not None:
            return request
        if not data:  # pragma: no cover - receive_data raises at EOF
            raise EOFError("connection closed during the opening handshake")


def read_handshake_now(
    stream: trio.abc.Stream, receive_buffer_size: int, handshake: ServerHandshake
) -> HandshakeRequest | None:
    """The request, if all of it is there already: one read that never waits (and so no
    timeout to set up for a client that sent its request with the connection).

    ``None`` when the request is not complete yet, or ``stream`` is not a plain socket: go on
    with :func:`read_handshake` and the same ``handshake``, which keeps what was read.

    Raises:
        InvalidHandshake, EOFError: as :func:`read_handshake`.
    """
    data = receive_now(stream, receive_buffer_size)
    return None if data is None else handshake.receive_data(data)


async def serve_http(
    http_handler: HTTPHandler,
    stream: trio.abc.Stream,
    handshake: ServerHandshake,
    plain: UpgradeRequired,
    options: ServerOptions,
) -> None:
    """Answer a plain HTTP request with ``http_handler`` (body read first, up to
    ``options.max_http_body``; a larger one gets 413), then close the stream.

    Cancelling it cancels the handler; the stream is closed without an answer.
    """
    try:
        body = handshake.receive_body(None, options.max_http_body)
        while body is None:
            try:
                data = await stream.receive_some(options.read_size)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                raise EOFError(str(exc)) from exc
            body = handshake.receive_body(bytes(data), options.max_http_body)
    except InvalidHandshake as exc:
        if exc.status_code == 413:
            answer = body_too_large(f"{plain.method} {plain.target}", options.max_http_body)
        else:
            answer = render(Response(str(exc) + "\n", exc.status_code))
        await send_http_response(stream, answer.status_code, answer.headers, answer.body)
        return
    except EOFError:
        await trio.aclose_forcefully(stream)
        return
    remote = stream_endpoint(stream, local=False)
    client = None if isinstance(remote, str) else (str(remote.address), remote.port)
    request = HTTPRequest(plain.method, plain.target, plain.request_headers, body, client)
    try:
        answer = await respond_http(http_handler, request)
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    await send_http_response(stream, answer.status_code, answer.headers, answer.body)
