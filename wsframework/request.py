"""Requests: the facts of an opening handshake or of a plain HTTP request.

* :class:`BaseRequest`: what every request has, WebSocket handshake or plain HTTP (the model is
  Starlette's ``HTTPConnection``): headers, query parameters, the decoded path, cookies, the
  client, per-request state, and what routing found (``app``, ``route``, ``path_params``).
* :class:`WebSocketRequest`: an opening handshake, and the choice to accept or reject it.
  The request does not know how bytes reach the peer; it talks to a *transport* (the seam
  between the framework and the wire): our own Trio server, or an ASGI server through the same
  two calls.
* :class:`WebSocketRoute`: a WebSocket route and what :meth:`WebSocketRequest.accept` consults
  on it: the route's preferred subprotocols, its message contract and what it accepts.

The transport gives the facts (path, headers, ``root_path``); the App gives what routing found.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any, Generic, Literal, Protocol, cast
from urllib.parse import unquote

from typing_extensions import TypeVar

from .accepts import Accepts, FrameContract, frame_contract
from .datastructures import Headers as HeaderList
from .datastructures import QueryParams, State
from .interface import Endpoint, WebSocketConnection
from .protocol.deflate_options import DeflateOptions
from .routing import Route

__all__ = [
    "BaseRequest",
    "ConnT",
    "ConnectionContract",
    "HandshakeState",
    "HandshakeTransport",
    "RequestApp",
    "WebSocketRequest",
    "WebSocketRoute",
]

Headers = list[tuple[bytes, bytes]]

#: Where an opening handshake stands: not answered yet, accepted, or refused.
HandshakeState = Literal["pending", "accepted", "rejected"]

#: The connection type :meth:`WebSocketRequest.accept` returns: ``WebSocketConnection`` unless
#: the handler's annotation says more (``TypedRequest[In, Out]`` in :mod:`wsframework.typed`).
ConnT = TypeVar("ConnT", bound=WebSocketConnection, default=WebSocketConnection, covariant=True)


#: A route's permessage-deflate: settings, ``None`` to refuse, ``"server"`` for the server's own.
Compression = DeflateOptions | None | Literal["server"]


class HandshakeTransport(Protocol):
    """What a :class:`WebSocketRequest` needs from the server that received it."""

    @property
    def local(self) -> Endpoint | str: ...

    @property
    def remote(self) -> Endpoint | str: ...

    async def accept(
        self,
        subprotocol: str | None,
        extra_headers: Headers,
        compression: Compression,
        frames: FrameContract | None,
    ) -> WebSocketConnection:
        """Send the 101 (or its ASGI equivalent) and return the open connection; called by
        :meth:`WebSocketRequest.accept`, whose docstring says how to cancel or time it out.
        ``compression`` is the route's permessage-deflate choice (a transport that does not
        negotiate compression itself ignores it); ``frames`` the route's frame-type check,
        which the connection makes on every inbound message before queueing it (``None``:
        none)."""
        ...

    async def reject(self, status_code: int, extra_headers: Headers, body: bytes) -> None:
        """Answer with an HTTP response and end the connection; called by
        :meth:`WebSocketRequest.reject`, whose docstring says how to cancel or time it out."""
        ...


class RequestApp(Protocol):
    """What a request knows of the application that dispatched it (an App has all of it)."""

    @property
    def state(self) -> State:
        """Application-wide state."""
        ...

    @property
    def root_path(self) -> str:
        """The prefix the application is mounted under, ``""`` if none."""
        ...

    def url_path_for(self, name: str, /, **params: Any) -> str:
        """The path of the route called ``name`` with ``params`` filled in."""
        ...


class ConnectionContract(Protocol):
    """What a route's message contract does to the connection its handler accepts
    (:class:`wsframework.typed.MessageContract` is one)."""

    def wrap(self, connection: WebSocketConnection) -> WebSocketConnection:
        """The connection the handler gets from :meth:`WebSocketRequest.accept`."""
        ...


@dataclass(frozen=True, eq=False, init=False)
class WebSocketRoute(Route):
    """A WebSocket route: a :class:`~wsframework.routing.Route` of kind ``"websocket"`` with the
    settings :meth:`WebSocketRequest.accept` consults. ``@app.websocket(...)`` makes these.

    Attributes:
        subprotocols: supported subprotocols, most preferred first; ``accept()`` without an
            argument picks the first of them the client offered.
        subprotocol_required: a client that offers none of :attr:`subprotocols` is refused
            (the App answers 400 naming them).
        contract: wraps the accepted connection (a route declared with ``receive=``,
            ``send=`` or ``on_invalid=`` has a :class:`~wsframework.typed.MessageContract`),
            or ``None``.
        compression: permessage-deflate for this route on our own server: ``"server"`` (the
            server's setting), ``None`` (refuse it) or :class:`~wsframework.DeflateOptions`
            (e.g. ``server_no_context_takeover=True``, so that a room's compressed frames are
            shared by its members). Under an ASGI server, the server's own setting applies.
        accepts: what clients may send: ``"any"`` (the default), ``"text"``, ``"bytes"`` or
            ``"json"``; a message of another type closes the connection with 1003 before the
            handler sees it (:mod:`wsframework.accepts`, docs/routing.md).
        frame_contract: the check :attr:`accepts` makes, ``None`` for ``"any"``.

    Raises:
        ValueError: ``subprotocol_required`` without ``subprotocols``.
        RouteDefinitionError: as for :class:`~wsframework.routing.Route`, or ``accepts`` is
            not one of ``"any"``, ``"text"``, ``"bytes"``, ``"json"``.
    """

    subprotocols: tuple[str, ...]
    subprotocol_required: bool
    contract: ConnectionContract | None
    compression: Compression
    accepts: Accepts
    frame_contract: FrameContract | None

    def __init__(
        self,
        template: str,
        endpoint: Any,
        *,
        name: str | None = None,
        subprotocols: Sequence[str] = (),
        subprotocol_required: bool = False,
        contract: ConnectionContract | None = None,
        compression: Compression = "server",
        accepts: Accepts = "any",
    ) -> None:
        if subprotocol_required and not subprotocols:
            raise ValueError("subprotocol_required=True needs a list of subprotocols")
        if compression != "server" and not isinstance(compression, (DeflateOptions, type(None))):
            raise ValueError(
                f"compression must be 'server', None or a DeflateOptions, not {compression!r}"
            )
        super().__init__(template, endpoint, name=name, kind="websocket")
        object.__setattr__(self, "subprotocols", tuple(subprotocols))
        object.__setattr__(self, "subprotocol_required", subprotocol_required)
        object.__setattr__(self, "contract", contract)
        object.__setattr__(self, "compression", compression)
        object.__setattr__(self, "frame_contract", frame_contract(accepts, template))
        object.__setattr__(self, "accepts", accepts)

    def choose_subprotocol(self, offered: Sequence[str]) -> str | None:
        """The first of :attr:`subprotocols` that is in ``offered``, else ``None``."""
        return next((p for p in self.subprotocols if p in offered), None)


class BaseRequest(ABC):
    """What every request has, WebSocket handshake or plain HTTP.

    Args:
        path: the request target: the path as sent, with the query string if any.
        headers: ``(lower-case name, value)`` byte pairs.
        root_path: the prefix the server says the application is mounted under (ASGI's
            ``root_path``), ``""`` when it says nothing (our own server).

    Attributes:
        path_params: typed values of the route's path parameters (set by the App's router).
        app: the application that dispatched this request (set by the App), else ``None``.
    """

    def __init__(self, path: str, headers: Headers, *, root_path: str = "") -> None:
        self._path = path
        self._headers = HeaderList(headers)
        self._root_path = root_path
        self._query: QueryParams | None = None
        self._request_state: State | None = None
        self.path_params: dict[str, Any] = {}
        self.app: RequestApp | None = None

    @property
    def path(self) -> str:
        """The request target: the path as sent, with the query string if there was one."""
        return self._path

    @property
    def headers(self) -> HeaderList:
        """HTTP headers of the request as ``(lower-case name, value)`` byte pairs.

        Also readable as a case-insensitive mapping: ``request.headers["origin"]``,
        ``request.headers.get("Authorization")``.
        """
        return self._headers

    @property
    def root_path(self) -> str:
        """(Read-only) The prefix the server says the application is mounted under (ASGI's
        ``root_path``), ``""`` when it said nothing. The App strips it (or its own
        ``root_path``) from :attr:`url_path` before routing."""
        return self._root_path

    @property
    def query_string(self) -> str:
        """The raw query string (after ``?``), or ``""``."""
        return self._path.partition("?")[2]

    @property
    def url_path(self) -> str:
        """The percent-decoded path, without the query string (``root_path`` included)."""
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
    @abstractmethod
    def client(self) -> tuple[str, int] | None:
        """The client's ``(host, port)``, or ``None`` when not on TCP."""

    @property
    def state(self) -> State:
        """Per-request state for middleware and handlers: ``request.state.user = ...``."""
        if self._request_state is None:
            self._request_state = State()
        return self._request_state

    @abstractmethod
    async def reject(
        self,
        status_code: int,
        *,
        extra_headers: list[tuple[bytes, bytes]] | None = None,
        body: bytes | None = None,
    ) -> None:
        """Answer with an HTTP response of ``status_code`` instead of running the handler:
        the refusal of a WebSocket handshake, or the answer to a plain HTTP request. A
        middleware that rejects does not call ``call_next``.

        Cancelling it is safe (see the subclass's own docstring for how it is bounded).

        Raises:
            ValueError: ``status_code`` is not an HTTP status from 200 to 599, or a header is
                malformed.
            RuntimeError: the request was already answered.
        """

    @staticmethod
    def _answer_headers(
        status_code: int, extra_headers: Sequence[tuple[bytes, bytes]] | None
    ) -> Headers:
        """The checks of :meth:`reject`: ``status_code`` in range, and the headers copied.

        Raises:
            ValueError: as :meth:`reject` says.
        """
        if not isinstance(status_code, int) or not 200 <= status_code <= 599:
            raise ValueError(
                f"status_code must be an HTTP status from 200 to 599, got {status_code}"
            )
        return _copy_headers(extra_headers)


class WebSocketRequest(BaseRequest, Generic[ConnT]):
    """An opening handshake a client presented to the server.

    The handler calls :meth:`accept` to get a :class:`WebSocketConnection`, or :meth:`reject`
    to answer with an HTTP response. A request the handler neither accepts nor rejects is
    rejected with 403 when the handler returns.

    The type parameter is what :meth:`accept` returns, for type checkers only: a bare
    ``WebSocketRequest`` is ``WebSocketRequest[WebSocketConnection]``. A handler of a route with
    a message contract annotates its request as ``TypedRequest[In, Out]`` (from
    :mod:`wsframework.typed`), which is ``WebSocketRequest[TypedConnection[In, Out]]``, and
    ``accept()`` is then typed as returning that ``TypedConnection``. The annotation is a
    promise the route keeps: routes declared with ``receive=``/``send=``/``on_invalid=`` hand
    out a ``TypedConnection``, other routes the plain connection.

    Attributes:
        route: the matched route (set by the App), else ``None``; :meth:`accept` consults its
            subprotocols and contract.
    """

    def __init__(
        self,
        transport: HandshakeTransport,
        *,
        path: str,
        headers: Headers,
        subprotocols: Sequence[str],
        root_path: str = "",
    ) -> None:
        super().__init__(path, headers, root_path=root_path)
        self._transport = transport
        self._subprotocols = tuple(subprotocols)
        self._connection: WebSocketConnection | None = None
        self._state: HandshakeState = "pending"
        self.route: WebSocketRoute | None = None

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
    def handshake_state(self) -> HandshakeState:
        """``"pending"``, ``"accepted"`` or ``"rejected"``."""
        return self._state

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
    ) -> ConnT:
        """Accept the handshake and return the open connection.

        Args:
            subprotocol: one of :attr:`proposed_subprotocols`, or ``None``. On an App route
                declared with ``subprotocols=[...]``, ``None`` picks the route's most preferred
                subprotocol that the client offered.
            extra_headers: more ``(name, value)`` headers for the 101 response.

        Returns:
            The open connection; on a route with a message contract (``receive=``, ``send=``,
            ``on_invalid=``) the contract's wrapper around it, a
            :class:`~wsframework.typed.TypedConnection`. On a route declared with
            ``accepts=`` other than ``"any"``, the connection closes with 1003 on a message of
            another type before queueing it.

        Cancelling while the response is being written leaves the connection unusable; it is
        then closed. Bound it with ``trio.move_on_after`` if the client may be stalled.

        Raises:
            ValueError: ``subprotocol`` was not offered by the client (accepting one would
                violate RFC 6455 and break the client), or a header is malformed.
            RuntimeError: the request was already accepted or rejected.
        """
        self._check_pending()
        route = self.route
        if subprotocol is None and route is not None:
            subprotocol = route.choose_subprotocol(self._subprotocols)
        if subprotocol is not None and subprotocol not in self._subprotocols:
            raise ValueError(
                f"subprotocol {subprotocol!r} was not offered by the client "
                f"(offered: {', '.join(self._subprotocols) or 'none'})"
            )
        headers = _copy_headers(extra_headers)
        self._state = "accepted"
        compression: Compression = "server"
        frames = None
        if route is not None:
            compression, frames = route.compression, route.frame_contract
        connection = await self._transport.accept(subprotocol, headers, compression, frames)
        self._connection = connection
        # The casts state the promise of the class docstring: the route decides the type at
        # run time, the handler's annotation names it for the type checker.
        if route is not None and route.contract is not None:
            return cast(ConnT, route.contract.wrap(connection))
        return cast(ConnT, connection)

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

        Cancelling it is safe: the connection is closed either way. Our own server bounds the
        write by 5 s; for a tighter bound use ``trio.move_on_after``.

        Raises:
            ValueError: ``status_code`` is out of range or a header is malformed.
            RuntimeError: the request was already accepted or rejected.
        """
        self._check_pending()
        headers = self._answer_headers(status_code, extra_headers)
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
