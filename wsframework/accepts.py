"""What a route accepts on the wire: text messages, binary messages, JSON, or anything.

``@app.websocket("/chat", accepts="text")`` states it; the connection the route's handler
accepts checks every inbound message against it *before* queueing it, and a message of the
wrong type closes the connection with 1003 (unsupported data) and a reason naming what the
route accepts: the handler never sees it. Our own server, the ASGI transport and the test
client make the same check with the same reason.

* ``"any"`` (the default): text and binary messages, unchecked. No check object exists, so the
  connection pays one ``is None`` test per message.
* ``"text"`` / ``"bytes"``: only text / only binary messages.
* ``"json"``: text, or binary holding UTF-8, whose content parses as JSON (RFC 8259: no
  ``NaN`` or ``Infinity``). Only these routes pay for a parse, one per message.

Sans-I/O: no trio.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Literal, get_args

from .exceptions import RouteDefinitionError

__all__ = ["ACCEPTS", "UNSUPPORTED_DATA", "Accepts", "FrameContract", "frame_contract"]

logger = logging.getLogger("wsframework")

#: What a WebSocket route accepts from clients.
Accepts = Literal["any", "text", "bytes", "json"]
#: Every value of :data:`Accepts`, ``"any"`` first.
ACCEPTS: tuple[str, ...] = get_args(Accepts)
#: The close code for a message of the wrong type: 1003, "unsupported data" (RFC 6455 7.4.1).
UNSUPPORTED_DATA = 1003

#: What each contract accepts, in words (for the log and the docs).
_LABELS = {
    "text": "text messages only",
    "bytes": "binary messages only",
    "json": "JSON messages only",
}


#: The close reason for each contract (all well under the 123 bytes a close reason may have).
REASONS: dict[str, str] = {
    accepts: f"this endpoint accepts {label}" for accepts, label in _LABELS.items()
}


def _arrived(message: str | bytes, what: str = "") -> str:
    kind = f"a text message of {len(message)} characters"
    if not isinstance(message, str):
        kind = f"a binary message of {len(message)} bytes"
    return f"{kind}{what}"


def _text_only(message: str | bytes) -> str | None:
    return None if type(message) is str else _arrived(message)


def _bytes_only(message: str | bytes) -> str | None:
    return _arrived(message) if type(message) is str else None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# One decoder for every message: json.loads with a keyword would build one per call.
_decode = json.JSONDecoder(parse_constant=_no_constant).decode


def _json_only(message: str | bytes) -> str | None:
    text = message
    if not isinstance(text, str):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            return _arrived(message, " that is not UTF-8")
    try:
        _decode(text)
    except (ValueError, RecursionError):
        return _arrived(message, " that is not JSON")
    return None


_CHECKS: dict[str, Callable[[str | bytes], str | None]] = {
    "text": _text_only,
    "bytes": _bytes_only,
    "json": _json_only,
}


class FrameContract:
    """The check a route's connections make on each inbound message (not ``"any"``).

    Made by :func:`frame_contract`; a connection calls :meth:`refuses` with each message
    before queueing it, and closes with :data:`UNSUPPORTED_DATA` and the returned reason when
    it is not ``None``.

    Attributes:
        accepts: ``"text"``, ``"bytes"`` or ``"json"``.
        route: the route's template, for the log.
        reason: the close reason, e.g. ``"this endpoint accepts text messages only"``.
    """

    __slots__ = ("_check", "accepts", "reason", "route")

    def __init__(self, accepts: str, route: str) -> None:
        self.accepts = accepts
        self.route = route
        self.reason = REASONS[accepts]
        self._check = _CHECKS[accepts]

    def refuses(self, message: str | bytes, connection: object) -> str | None:
        """The close reason if ``message`` breaks the contract (logged at INFO, naming
        ``connection``, the route and what arrived), else ``None``."""
        arrived = self._check(message)
        if arrived is None:
            return None
        logger.info(
            "%s closing with %d: route %s accepts %s and %s arrived",
            connection,
            UNSUPPORTED_DATA,
            self.route,
            _LABELS[self.accepts],
            arrived,
        )
        return self.reason

    def __repr__(self) -> str:
        return f"<FrameContract {self.accepts} for {self.route}>"


def frame_contract(accepts: object, route: str) -> FrameContract | None:
    """The check for a route that accepts ``accepts``; ``None`` for ``"any"`` (no check).

    Args:
        accepts: one of :data:`ACCEPTS`.
        route: the route's template, for the log and the error.

    Raises:
        RouteDefinitionError: ``accepts`` is not one of :data:`ACCEPTS`.
    """
    if accepts == "any":
        return None
    if not isinstance(accepts, str) or accepts not in _CHECKS:
        known = ", ".join(repr(a) for a in ACCEPTS)
        raise RouteDefinitionError(
            f"websocket route {route!r} cannot accept {accepts!r}: accepts must be one of {known}"
        )
    return FrameContract(accepts, route)
