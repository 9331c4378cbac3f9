"""The client's opening handshake, sans-I/O: the request to send, the server's answer parsed.

The server's side is :mod:`wsframework.protocol.handshake`; this one leans on wsproto's
``H11Handshake`` for the HTTP and the key check, and adds what a client library must decide:
what a refusal carries (status, headers, body up to a limit) and what a broken answer means.

Calling contract: write :attr:`ClientHandshake.request` to the server, then feed every chunk
read with :meth:`ClientHandshake.receive_data` (``b""`` at EOF) until it returns an
:class:`Accepted` or raises; the ``Accepted.connection`` then belongs to the
:class:`~wsframework.protocol.engine.Engine`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wsproto.connection import Connection, ConnectionType
from wsproto.events import AcceptConnection, RejectConnection, RejectData, Request
from wsproto.handshake import H11Handshake
from wsproto.utilities import RemoteProtocolError

from ..exceptions import ConnectionRejected, InvalidHandshake
from .deflate import DeflateOptions, LimitedDeflate

__all__ = ["MAX_REJECT_BODY", "Accepted", "ClientHandshake"]

#: The most of a refusal's body kept for :class:`~wsframework.ConnectionRejected`.
MAX_REJECT_BODY = 64 * 1024

Headers = list[tuple[bytes, bytes]]


@dataclass
class Accepted:
    """The server accepted: what was negotiated, and the protocol state to continue with.

    Attributes:
        connection: wsproto's connection (holding any bytes that came behind the response).
        subprotocol: the subprotocol the server picked, or ``None``.
        response_headers: the headers of the 101 response.
        deflate: the permessage-deflate extension if the server accepted it, else ``None``.
    """

    connection: Connection
    subprotocol: str | None
    response_headers: Headers
    deflate: LimitedDeflate | None


class ClientHandshake:
    """One client opening handshake.

    Args:
        host: the ``Host`` header.
        resource: the request target (``/chat?room=1``).
        subprotocols: offered, most preferred first.
        extra_headers: more request headers (already checked).
        compression: permessage-deflate to offer, or ``None``.
        max_message_size: the inflation limit of the offered deflate extension.
    """

    def __init__(
        self,
        host: str,
        resource: str,
        *,
        subprotocols: Iterable[str] = (),
        extra_headers: Sequence[tuple[bytes, bytes]] = (),
        compression: DeflateOptions | None = None,
        max_message_size: int,
    ) -> None:
        self._deflate = (
            LimitedDeflate.from_options(compression, max_message_size)
            if compression is not None
            else None
        )
        self._h11 = H11Handshake(ConnectionType.CLIENT)
        event = Request(
            host=host,
            target=resource,
            subprotocols=list(subprotocols),
            extensions=[self._deflate] if self._deflate is not None else [],
            extra_headers=list(extra_headers),
        )
        #: The bytes to send first.
        self.request: bytes = self._h11.send(event)
        #: The request's headers as sent (``Host`` and the extra ones).
        self.request_headers: Headers = [(b"host", host.encode()), *list(extra_headers)]
        self._reject: RejectConnection | None = None
        self._body = bytearray()

    def receive_data(self, data: bytes) -> Accepted | None:
        """Feed the server's bytes (``b""`` at EOF); the result once the answer is complete.

        Returns:
            :class:`Accepted` when the server switched protocols, ``None`` while more is needed.

        Raises:
            ConnectionRejected: the server answered with another status (its headers and up to
                :data:`MAX_REJECT_BODY` bytes of body attached, as much as arrived if the body
                broke off).
            InvalidHandshake: the answer is not valid HTTP or not a valid 101 for our request,
                or the server closed the connection before answering.
        """
        if not data and self._reject is None:
            raise InvalidHandshake(
                "the server closed the connection during the handshake"
            ) from EOFError("end of stream")
        # wsproto parses the answer in receive_data and queues its events; a broken answer
        # raises there (RemoteProtocolError, or ValueError/IndexError from a header or an
        # extension parameter it cannot read), after queueing whatever came before it.
        broken: Exception | None = None
        try:
            self._h11.receive_data(data)
        except (RemoteProtocolError, ValueError, IndexError) as exc:
            broken = exc
        for event in self._h11.events():
            if isinstance(event, AcceptConnection):
                proto = self._h11.connection
                if proto is None:  # pragma: no cover - wsproto sets it with the event
                    raise InvalidHandshake("the handshake ended without a connection")
                deflate = self._deflate
                return Accepted(
                    proto,
                    event.subprotocol,
                    list(event.extra_headers),
                    deflate if deflate is not None and deflate.enabled() else None,
                )
            if isinstance(event, RejectConnection):
                self._reject = event
                if not event.has_body:
                    raise ConnectionRejected(event.status_code, tuple(event.headers), None)
            elif isinstance(event, RejectData) and self._reject is not None:
                self._body += event.data
                if len(self._body) > MAX_REJECT_BODY or event.body_finished:
                    raise self._rejected()
        if broken is not None:
            if self._reject is not None:  # a refusal whose body broke off: still a refusal
                raise self._rejected()
            raise InvalidHandshake(
                f"invalid handshake response from the server: {broken}"
            ) from None
        if not data:
            raise self._rejected()
        return None

    def _rejected(self) -> ConnectionRejected:
        reject = self._reject
        if reject is None:  # pragma: no cover - only called after a RejectConnection
            return ConnectionRejected(0, (), None)
        body = bytes(self._body[:MAX_REJECT_BODY])  # the last chunk may have gone past it
        return ConnectionRejected(reject.status_code, tuple(reject.headers), body)
