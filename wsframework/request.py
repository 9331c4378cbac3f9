"""WebSocketRequest: the facts of an opening handshake, and the choice to accept or reject it.

The request does not know how bytes reach the peer; it talks to a *transport* (the seam between
the framework and the wire): the native Trio server today, an ASGI server through the same two
calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .connection import Endpoint, WebSocketConnection

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
        self._headers = headers
        self._subprotocols = tuple(subprotocols)
        self._connection: WebSocketConnection | None = None
        self._state = "pending"

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """HTTP headers of the request as ``(lower-case name, value)`` byte pairs."""
        return self._headers

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
    def state(self) -> str:
        """``"pending"``, ``"accepted"`` or ``"rejected"``."""
        return self._state

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
            subprotocol: one of :attr:`proposed_subprotocols`, or ``None``.
            extra_headers: more ``(name, value)`` headers for the 101 response.

        Cancelling while the response is being written leaves the connection unusable; it is
        then closed. Bound it with ``trio.move_on_after`` if the client may be stalled.

        Raises:
            ValueError: ``subprotocol`` was not offered by the client (accepting one would
                violate RFC 6455 and break the client), or a header is malformed.
            RuntimeError: the request was already accepted or rejected.
        """
        self._check_pending()
        if subprotocol is not None and subprotocol not in self._subprotocols:
            raise ValueError(
                f"subprotocol {subprotocol!r} was not offered by the client "
                f"(offered: {', '.join(self._subprotocols) or 'none'})"
            )
        headers = _copy_headers(extra_headers)
        self._state = "accepted"
        self._connection = await self._transport.accept(subprotocol, headers)
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
