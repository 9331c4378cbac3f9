"""Running a WebSocket handler, whichever transport carries the connection.

Both transports (:mod:`wsframework.server`, our own wire, and :mod:`wsframework.asgi`, an ASGI
server's wire) build a :class:`~wsframework.WebSocketRequest` and hand it to
:func:`run_handler`, which owns what happens around the handler:

* a handler that raises is logged; its connection is closed with 1011, or the handshake is
  answered with HTTP 500 when it was not accepted yet;
* a handler that lets :exc:`~wsframework.ConnectionClosed` escape ended normally enough
  (logged at DEBUG);
* a cancelled handler (the server is shutting down) says so with 1001, shielded and bounded;
* whatever the handler left open is closed (1000), a handshake it neither accepted nor rejected
  is answered with 403.

:func:`answer_exception` turns what an App exception handler returned into the answer, on
either side of ``accept()``: an HTTP response for a handshake not accepted yet, a close code
for an open connection. An HTTP status ``N`` and the close code ``4000 + N`` mean the same
(``N`` from 400 to 599), so one exception handler serves both sides.

Nothing here knows about wsproto, h11 or ASGI.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TypeAlias

import trio

from . import _stats as stats
from .exceptions import ConnectionClosed
from .http import Response
from .options import timeout_seconds
from .protocol.close import check_close_code
from .request import WebSocketRequest

__all__ = [
    "HTTP_CLOSE_OFFSET",
    "ExceptionAnswer",
    "Handler",
    "answer_exception",
    "close_answer",
    "http_answer",
    "run_handler",
]

logger = logging.getLogger("wsframework")

#: ``async def handler(request: WebSocketRequest) -> None``, called once per connection.
Handler = Callable[[WebSocketRequest], Awaitable[None]]

#: What an exception handler returns: ``(code, reason)``, a ``code``, a
#: :class:`~wsframework.http.Response` (before ``accept()``), or ``None`` when it answered
#: itself. A code is an HTTP status (200-599) or a close code (1000-4999).
ExceptionAnswer: TypeAlias = tuple[int, str | None] | int | Response | None

#: Close code ``HTTP_CLOSE_OFFSET + N`` stands for HTTP status ``N`` (4403 for 403), for ``N``
#: from 400 to 599: the convention of graphql-ws and many WebSocket APIs.
HTTP_CLOSE_OFFSET = 4000


async def run_handler(
    handler: Handler, request: WebSocketRequest, disconnect_timeout: float | None
) -> None:
    """Call ``handler(request)`` and answer for it: map a failure to 1011 or HTTP 500, close
    what it left open, reject (403) a handshake it left pending.

    Args:
        handler: the application's handler.
        request: the opening handshake, from either transport.
        disconnect_timeout: seconds each final close may wait for the peer's close frame
            (``None``: for ever).

    Cancelling it (a server shutting down) cancels the handler; the connection is then closed
    with 1001 (shielded and bounded by 1 s) and ``trio.Cancelled`` propagates. The final close
    is shielded and bounded by ``disconnect_timeout``, so this needs no timeout of its own.
    Exceptions from the handler are logged, never raised.
    """
    limit = timeout_seconds(disconnect_timeout)
    try:
        await handler(request)
    except ConnectionClosed as exc:
        # A handler that lets "the connection is closed" escape ended normally enough.
        logger.debug("handler on %s ended by its closed connection: %r", request.path, exc)
    except trio.Cancelled:
        # The server is going away: say so (1001), shielded and bounded, then go.
        connection = request.connection
        if connection is not None:
            await connection.going_away()
        raise
    except Exception:
        stats.STATS.handler_errors["false"] += 1
        logger.exception("handler error on %s from %s", request.path, request.remote)
        connection = request.connection
        if connection is not None:
            with trio.move_on_after(limit):
                await connection.aclose(1011, "internal server error")
        elif request.handshake_state == "pending":
            await request.reject(500, body=b"Internal Server Error\n")
    finally:
        if request.handshake_state == "pending":
            with trio.CancelScope(shield=True):
                await request.reject(
                    403, body=b"The handler did not accept the WebSocket connection.\n"
                )
        connection = request.connection
        if connection is not None:
            with trio.CancelScope(shield=True, deadline=trio.current_time() + limit):
                await connection.aclose()
            stats.closed(connection, connection.closed)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _code_and_reason(answer: object) -> tuple[int, str | None]:
    """``(code, reason)`` from ``code`` or ``(code, reason)``, the code an HTTP status or a
    close code; ``TypeError`` or ``ValueError`` otherwise."""
    if isinstance(answer, tuple) and len(answer) == 2:
        code, reason = answer
    else:
        code, reason = answer, None
    if not isinstance(code, int) or isinstance(code, bool):
        raise TypeError(
            f"it returned {answer!r}; return (code, reason), a code, a Response or None"
        )
    if reason is not None and not isinstance(reason, str):
        raise TypeError(f"the reason must be a str or None, got {type(reason).__name__}")
    if not (200 <= code <= 599 or 1000 <= code <= 4999):
        raise ValueError(f"{code} is neither an HTTP status (200-599) nor a close code")
    return code, reason


def http_answer(answer: ExceptionAnswer) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """``(status, headers, body)`` to refuse a handshake with, for what an exception handler
    returned before ``accept()``.

    Raises:
        TypeError, ValueError: the answer cannot become an HTTP response (the message says why).
    """
    if answer is None:
        raise ValueError("it returned None without answering the handshake")
    if isinstance(answer, Response):
        status, headers, body = answer.status_code, answer.raw_headers(), answer.body_bytes()
        if not 200 <= status <= 599:
            raise ValueError(f"its Response has status {status}; use 200-599")
        return status, headers, body
    code, reason = _code_and_reason(answer)
    if code <= 599:
        status = code
    elif 400 <= code - HTTP_CLOSE_OFFSET <= 599:
        status = code - HTTP_CLOSE_OFFSET
    else:
        raise ValueError(
            f"close code {code} has no HTTP equivalent before accept(); return an HTTP status, "
            f"a Response, or a close code from 4400 to 4599 (4000 + the HTTP status)"
        )
    return status, [], ((reason or _phrase(status)) + "\n").encode()


def close_answer(answer: ExceptionAnswer) -> tuple[int, str | None]:
    """``(code, reason)`` to close an accepted connection with, for what an exception handler
    returned after ``accept()``.

    Raises:
        TypeError, ValueError: the answer cannot become a close frame (the message says why).
    """
    if answer is None:
        raise ValueError("it returned None and left the connection open")
    if isinstance(answer, Response):
        answer = answer.status_code
    code, reason = _code_and_reason(answer)
    if 400 <= code <= 599:
        code, reason = code + HTTP_CLOSE_OFFSET, reason or _phrase(code)
    elif code < 1000:
        raise ValueError(
            f"HTTP status {code} has no close code after accept(); return a close code, or an "
            "HTTP status from 400 to 599 (sent as 4000 + the status)"
        )
    check_close_code(code)
    return code, reason


async def answer_exception(
    request: WebSocketRequest, exc: Exception, answer: ExceptionAnswer, handler_name: str
) -> None:
    """Answer ``request`` as the exception handler ``handler_name`` said when the route's
    handler raised ``exc``; the outcome is logged at INFO.

    Before ``accept()`` the handshake is refused with the HTTP status the answer gives (see
    :func:`http_answer`); after it, the connection is closed with the close code (see
    :func:`close_answer`). An answer that does not fit is logged as an error and replaced by
    the default: HTTP 500 before ``accept()``, 1011 after. Returning ``None`` means the
    exception handler answered itself (rejected or closed); if it did not, that is such an
    error.

    Cancellation and timeouts as for :meth:`WebSocketRequest.reject` and
    :meth:`~wsframework.WebSocketConnection.aclose` (the one it calls).
    """
    where = f"{type(exc).__name__} on {request.path}"
    stats.STATS.handler_errors["true"] += 1
    connection = request.connection
    if request.handshake_state == "rejected" or (
        answer is None and connection is not None and connection.closed is not None
    ):
        logger.info("%s: exception handler %s answered itself", where, handler_name)
        return
    if connection is None:
        try:
            status, headers, body = http_answer(answer)
        except (TypeError, ValueError) as problem:
            logger.error(
                "%s before accept(): exception handler %s cannot answer: %s; answering HTTP 500",
                where,
                handler_name,
                problem,
            )
            await request.reject(500, body=b"Internal Server Error\n")
            return
        logger.info(
            "%s before accept(): answered HTTP %d (exception handler %s)",
            where,
            status,
            handler_name,
        )
        await request.reject(status, extra_headers=headers, body=body)
        return
    try:
        code, reason = close_answer(answer)
    except (TypeError, ValueError) as problem:
        logger.error(
            "%s: exception handler %s cannot answer: %s; closing with 1011",
            where,
            handler_name,
            problem,
        )
        code, reason = 1011, "internal server error"
    else:
        logger.info(
            "%s: closing with %d %r (exception handler %s)", where, code, reason, handler_name
        )
    await connection.aclose(code, reason)
