"""Minimal plain HTTP: enough for health checks, a page and clear errors. Not a web framework.

A plain HTTP route returns ``str`` (text/plain), ``bytes`` (application/octet-stream), a
JSON-able ``dict``/``list`` (application/json), ``None`` (204) or a :class:`Response`.

Both transports answer plain HTTP the same way: each reads the request (its body up to
``max_http_body``) and writes the answer on its own wire, and between the two calls
:func:`respond_http`, which runs the handler and decides the answer: the 500 for a handler that
raises (logged), ``HEAD`` (no body, the ``Content-Length`` of the ``GET`` answer kept). A body
over the limit is answered with :func:`body_too_large`. Nothing here does I/O beyond calling the
handler.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .request import BaseRequest
from .routing import Route

__all__ = [
    "HTMLResponse",
    "HTTPAnswer",
    "HTTPHandler",
    "HTTPRequest",
    "JSONResponse",
    "Response",
    "body_too_large",
    "render",
    "respond_http",
    "to_response",
]

logger = logging.getLogger("wsframework")


@dataclass
class Response:
    """An HTTP response.

    Attributes:
        body: the body; ``str`` is encoded as UTF-8.
        status_code: the HTTP status.
        headers: extra ``(name, value)`` headers (``str`` or ``bytes``).
        media_type: the ``Content-Type``.
    """

    body: bytes | str = b""
    status_code: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    media_type: str = "text/plain; charset=utf-8"

    def body_bytes(self) -> bytes:
        """The body as bytes."""
        return self.body.encode() if isinstance(self.body, str) else self.body

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """All headers as lower-case byte pairs, ``Content-Type`` included when there is a body."""
        out = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers]
        if self.body and not any(k == b"content-type" for k, _ in out):
            out.append((b"content-type", self.media_type.encode("latin-1")))
        return out


def JSONResponse(content: Any, status_code: int = 200, **kwargs: Any) -> Response:
    """A :class:`Response` with ``content`` encoded as JSON."""
    body = json.dumps(content, separators=(",", ":"), ensure_ascii=False)
    return Response(body, status_code, media_type="application/json", **kwargs)


def HTMLResponse(content: str, status_code: int = 200, **kwargs: Any) -> Response:
    """A :class:`Response` with an HTML body."""
    return Response(content, status_code, media_type="text/html; charset=utf-8", **kwargs)


def to_response(value: Any) -> Response:
    """Turn what a plain HTTP handler returned into a :class:`Response`.

    Raises:
        TypeError: for a value that has no obvious HTTP form.
    """
    if isinstance(value, Response):
        return value
    if value is None:
        return Response(b"", 204)
    if isinstance(value, str):
        return Response(value)
    if isinstance(value, (bytes, bytearray)):
        return Response(bytes(value), media_type="application/octet-stream")
    if isinstance(value, (dict, list)):
        return JSONResponse(value)
    raise TypeError(
        f"an HTTP handler must return str, bytes, dict, list, None or Response, "
        f"not {type(value).__name__}"
    )


class HTTPRequest(BaseRequest):
    """A plain HTTP request, as a ``@app.http`` handler receives it.

    Besides what every request has (:class:`~wsframework.request.BaseRequest`: ``path``,
    ``headers``, ``url_path``, ``query_params``, ``cookies``, ``root_path``, ``state``,
    ``path_params``, ``app``):

    Attributes:
        method: ``GET``, ``HEAD``, ...
        body: the request body (bounded; a larger one is refused with 413).
        route: the matched route (set by the App), else ``None``.
        response: the answer once there is one (set by :meth:`reject`, or by the App from what
            the route's handler returned), else ``None``; a middleware may change it after
            ``await call_next(request)`` (add a header, say).
    """

    def __init__(
        self,
        method: str,
        path: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes = b"",
        client: tuple[str, int] | None = None,
        *,
        root_path: str = "",
    ) -> None:
        super().__init__(path, headers, root_path=root_path)
        self.method = method
        self.body = body
        self._client = client
        self.route: Route | None = None
        self.response: Response | None = None

    @property
    def client(self) -> tuple[str, int] | None:
        """The client's ``(host, port)``, or ``None`` when not on TCP."""
        return self._client

    async def reject(
        self,
        status_code: int,
        *,
        extra_headers: list[tuple[bytes, bytes]] | None = None,
        body: bytes | None = None,
    ) -> None:
        """Answer with ``status_code`` instead of running the handler (a middleware that
        rejects does not call ``call_next``); the same call as
        :meth:`WebSocketRequest.reject <wsframework.WebSocketRequest.reject>`.

        It sets :attr:`response` and does no I/O: the transport writes the answer when the
        handling is over. Nothing to cancel or time out.

        Args:
            status_code: an HTTP status from 200 to 599, usually 4xx.
            extra_headers: more ``(name, value)`` headers for the response.
            body: the response body (``text/plain``); ``None`` sends none.

        Raises:
            ValueError: ``status_code`` is out of range or a header is malformed.
            RuntimeError: the request was already answered.
        """
        if self.response is not None:
            raise RuntimeError("this request was already answered")
        headers = self._answer_headers(status_code, extra_headers)
        self.response = Response(
            body or b"",
            status_code,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers],
        )

    def json(self) -> Any:
        """The body decoded as JSON.

        Raises:
            ValueError: the body is not valid JSON.
        """
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<HTTPRequest {self.method} {self.path!r}>"


#: ``async def handler(request: HTTPRequest)`` returning anything :func:`to_response` takes.
HTTPHandler = Callable[[HTTPRequest], Awaitable[Any]]


@dataclass(frozen=True)
class HTTPAnswer:
    """An HTTP answer as a transport writes it.

    Attributes:
        status_code: the HTTP status.
        headers: lower-case byte pairs, ``Content-Type`` (when there is a body) and
            ``Content-Length`` included.
        body: the bytes to send; empty for a ``HEAD`` request, whose ``Content-Length`` still
            gives the length of the body a ``GET`` would get.
    """

    status_code: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def render(response: Response, *, head: bool = False) -> HTTPAnswer:
    """The answer for ``response``; ``head=True`` drops the body and keeps its length.

    A ``Content-Length`` header set on the response is kept as it is.
    """
    body = response.body_bytes()
    headers = response.raw_headers()
    if not any(name == b"content-length" for name, _ in headers):
        headers.append((b"content-length", str(len(body)).encode()))
    return HTTPAnswer(response.status_code, headers, b"" if head else body)


def body_too_large(request_line: str, limit: int) -> HTTPAnswer:
    """The 413 answer to a request whose body is over ``limit`` bytes (logged at INFO).

    Args:
        request_line: method and target, e.g. ``"POST /upload"``, for the log.
        limit: the transport's ``max_http_body``.
    """
    logger.info("refused %s: the request body is over %d bytes", request_line, limit)
    text = f"Request body too large: the limit is {limit} bytes.\n"
    return render(Response(text, 413))


async def respond_http(handler: HTTPHandler, request: HTTPRequest) -> HTTPAnswer:
    """Run ``handler(request)`` and turn what it returned into the answer to write.

    A handler that raises, or returns something :func:`to_response` refuses, gets a logged
    ``500 Internal Server Error``; for ``HEAD`` the body is dropped and its length kept.

    Cancelling it cancels the handler (and the transport then writes nothing); for a timeout,
    wrap it in ``trio.move_on_after``. Only ``BaseException`` that is not an ``Exception``
    (cancellation, ``KeyboardInterrupt``) propagates.
    """
    try:
        response = to_response(await handler(request))
    except Exception:
        logger.exception(
            "HTTP handler error on %s %s from %s", request.method, request.path, request.client
        )
        response = Response("Internal Server Error\n", 500)
    return render(response, head=request.method == "HEAD")
