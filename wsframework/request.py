"""WebSocketRequest: the facts of an opening handshake, and the choice to accept or reject it.

The request does not know how bytes reach the peer; it talks to a *transport* (the seam between
the framework and the wire): the native Trio server today, an ASGI server through the same two
calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote

from .datastructures import Headers as HeaderList
from .datastructures import QueryParams, State

if TYPE_CHECKING:
    from .interface import Endpoint, WebSocketConnection

__all__ = ["HandshakeTransport", "WebSocketRequest"]

Headers = list[tuple[bytes, bytes]]


class HandshakeTransport(Protocol):
    """What a :class:`WebSocketRequest` needs from the server that received it."""

    @property
    def local(self) -> Endpoint | str: ...

    @property
    def remote(self) -> Endpoint | str: ...

    async def accept(
        self, subprotocol: str | None, extra_headers: Headers
    ) -> WebSocketConnection: ...

    async def reject(self, status_code: int, extra_headers: Headers, body: bytes) -> None: ...


class WebSocketRequest:
    """An opening handshake a client presented to the server.

    The handler calls :meth:`accept` to get a :class:`WebSocketConnection`, or :meth:`reject`
    to answer with an HTTP response. A request the handler neither accepts nor rejects is
    rejected with 403 when the handler returns.
    """

    def __init__(
        self,
        transport: HandshakeTransport,
        *,
        path: str,
        headers: Headers,
        subprotocols: Sequence[str],
    ) -> None:
        self._transport = transport
        self._path = path
        self._headers = HeaderList(headers)
        self._subprotocols = tuple(subprotocols)
        self._connection: WebSocketConnection | None = None
        self._state = "pending"
        self._preferred: tuple[str, ...] = ()
        #: Set by the App for routes with message contracts: wraps the accepted connection.
        self._wrap: Any = None
        #: The path to route on when it differs from :attr:`url_path` (ASGI ``root_path``).
        self._route_path: str | None = None
        self._query: QueryParams | None = None
        self._request_state: State | None = None
        #: Typed values of the route's path parameters (set by the App's router).
        self.path_params: dict[str, Any] = {}
        #: The application that dispatched this request (set by the App), else ``None``.
        self.app: Any = None
        #: The matched route (set by the App), else ``None``.
        self.route: Any = None

    @property
    def headers(self) -> HeaderList:
        """HTTP headers of the request as ``(lower-case name, value)`` byte pairs.

        Also readable as a case-insensitive mapping: ``request.headers["origin"]``,
        ``request.headers.get("Authorization")``.
        """
        return self._headers

    @property
    def query_string(self) -> str:
        """The raw query string (after ``?``), or ``""``."""
        return self._path.partition("?")[2]

    @property
    def url_path(self) -> str:
        """The percent-decoded path, without the query string."""
        return unquote(self._path.partition("?")[0])

    @property
    def query_params(self) -> QueryParams:
        """The query string's parameters; repeated keys are kept (``getlist``)."""
        if self._query is None:
            self._query = QueryParams(self.query_string)
        return self._query

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies from the ``Cookie`` header(s); a malformed header yields none."""
        cookies: dict[str, str] = {}
        for header in self._headers.getlist("cookie"):
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(header)
            except CookieError:
                continue
            cookies.update({key: morsel.value for key, morsel in jar.items()})
        return cookies

    @property
    def client(self) -> tuple[str, int] | None:
        """The client's ``(host, port)``, or ``None`` when not on TCP."""
        remote = self.remote
        if isinstance(remote, str):
            return None
        return (str(remote.address), remote.port)

    @property
    def scheme(self) -> str:
        """``"wss"`` when the connection is TLS, else ``"ws"``."""
        return "wss" if getattr(self.local, "is_ssl", False) else "ws"

    @property
    def url(self) -> str:
        """The full URL the client asked for, e.g. ``ws://example.com/chat?room=1``."""
        host = self._headers.get("host") or "localhost"
        return f"{self.scheme}://{host}{self._path}"

    @property
    def state(self) -> State:
        """Per-connection state for middleware and handlers: ``request.state.user = ...``."""
        if self._request_state is None:
            self._request_state = State()
        return self._request_state

    @property
    def handshake_state(self) -> str:
        """``"pending"``, ``"accepted"`` or ``"rejected"``."""
        return self._state

    @property
    def path(self) -> str:
        """The requested URL path, with the query string if there was one."""
        return self._path

    @property
    def proposed_subprotocols(self) -> tuple[str, ...]:
        """The subprotocols the client offered, in its order of preference."""
        return self._subprotocols

    @property
    def local(self) -> Endpoint | str:
        """The connection's local endpoint."""
        return self._transport.local

    @property
    def remote(self) -> Endpoint | str:
        """The connection's remote endpoint."""
        return self._transport.remote

    @property
    def connection(self) -> WebSocketConnection | None:
        """The connection once accepted, else ``None``."""
        return self._connection

    async def accept(
        self,
        *,
        subprotocol: str | None = None,
        extra_headers: list[tuple[bytes, bytes]] | None = None,
    ) -> WebSocketConnection:
        """Accept the handshake and return the open connection.

        Args:
            subprotocol: one of :attr:`proposed_subprotocols`, or ``None``. On an App route
                declared with ``subprotocols=[...]``, ``None`` picks the route's most preferred
                subprotocol that the client offered.
            extra_headers: more ``(name, value)`` headers for the 101 response.

        Cancelling while the response is being written leaves the connection unusable; it is
        then closed. Bound it with ``trio.move_on_after`` if the client may be stalled.

        Raises:
            ValueError: ``subprotocol`` was not offered by the client (accepting one would
                violate RFC 6455 and break the client), or a header is malformed.
            RuntimeError: the request was already accepted or rejected.
        """
        self._check_pending()
        if subprotocol is None and self._preferred:
            subprotocol = next((p for p in self._preferred if p in self._subprotocols), None)
        if subprotocol is not None and subprotocol not in self._subprotocols:
            raise ValueError(
                f"subprotocol {subprotocol!r} was not offered by the client "
                f"(offered: {', '.join(self._subprotocols) or 'none'})"
            )
        headers = _copy_headers(extra_headers)
        self._state = "accepted"
        self._connection = await self._transport.accept(subprotocol, headers)
        if self._wrap is not None:
            return self._wrap(self._connection)  # type: ignore[no-any-return]
        return self._connection

    async def reject(
        self,
        status_code: int,
        *,
        extra_headers: list[tuple[bytes, bytes]] | None = None,
        body: bytes | None = None,
    ) -> None:
        """Refuse the handshake with an HTTP response, then close the connection.

        Args:
            status_code: an HTTP status from 200 to 599 (not 101), usually 4xx.
            extra_headers: more ``(name, value)`` headers for the response.
            body: the response body; ``None`` sends none.

        Raises:
            ValueError: ``status_code`` is out of range or a header is malformed.
            RuntimeError: the request was already accepted or rejected.
        """
        self._check_pending()
        if not isinstance(status_code, int) or not 200 <= status_code <= 599:
            raise ValueError(
                f"status_code must be an HTTP status from 200 to 599, got {status_code}"
            )
        headers = _copy_headers(extra_headers)
        self._state = "rejected"
        await self._transport.reject(status_code, headers, body or b"")

    def _check_pending(self) -> None:
        if self._state != "pending":
            raise RuntimeError(f"this request was already {self._state}")

    def __repr__(self) -> str:
        return f"<WebSocketRequest {self._path!r} {self._state}>"


def _copy_headers(headers: Sequence[tuple[bytes, bytes]] | None) -> Headers:
    out: Headers = []
    for item in headers or ():
        name, value = item
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            raise TypeError("headers must be (bytes, bytes) pairs")
        if (
            not name
            or any(c in name for c in b"\r\n:\x00 \t")
            or any(c in value for c in b"\r\n\x00")
        ):
            raise ValueError(f"malformed header {name!r}: {value!r}")
        out.append((name, value))
    return out
