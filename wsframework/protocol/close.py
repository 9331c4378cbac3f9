"""Close codes and the :class:`CloseReason` value object.

Standard library only: the ASGI transport uses it too, and must not load wsproto.
"""

from __future__ import annotations

__all__ = ["RECEIVABLE_CODES", "CloseReason", "check_close_code"]

# The names wsproto's ``frame_protocol.CloseReason`` (and so trio-websocket) gives the codes;
# tests/protocol/test_close.py compares the two tables.
_NAMES = {
    1000: "NORMAL_CLOSURE",
    1001: "GOING_AWAY",
    1002: "PROTOCOL_ERROR",
    1003: "UNSUPPORTED_DATA",
    1005: "NO_STATUS_RCVD",
    1006: "ABNORMAL_CLOSURE",
    1007: "INVALID_FRAME_PAYLOAD_DATA",
    1008: "POLICY_VIOLATION",
    1009: "MESSAGE_TOO_BIG",
    1010: "MANDATORY_EXT",
    1011: "INTERNAL_ERROR",
    1012: "SERVICE_RESTART",
    1013: "TRY_AGAIN_LATER",
    1015: "TLS_HANDSHAKE_FAILED",
}

#: The codes below 3000 that wsproto accepts in a peer's close frame (it fails the others with
#: 1002); 3000-4999 are accepted too.
RECEIVABLE_CODES = frozenset(_NAMES) - {1005, 1006, 1015}

# Codes an endpoint may put in a close frame it sends (RFC 6455 7.4.1 and the IANA registry).
_SENDABLE = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})


def _code_name(code: int) -> str:
    name = _NAMES.get(code)
    if name is not None:
        return name
    if 1000 <= code <= 2999:
        return "RFC_RESERVED"
    if 3000 <= code <= 3999:
        return "IANA_RESERVED"
    if 4000 <= code <= 4999:
        return "PRIVATE_RESERVED"
    return "INVALID_CODE"


def check_close_code(code: int) -> None:
    """Raise ``ValueError`` unless ``code`` may be sent in a close frame.

    Allowed: 1000-1003, 1007-1014 and the application ranges 3000-4999. The codes 1005, 1006
    and 1015 only ever describe a closure locally and must never be sent.
    """
    if not isinstance(code, int) or isinstance(code, bool):
        raise TypeError(f"close code must be an int, not {type(code).__name__}")
    if code in _SENDABLE or 3000 <= code <= 4999:
        return
    raise ValueError(f"close code {code} cannot be sent: use 1000-1003, 1007-1014 or 3000-4999")


class CloseReason:
    """Why a WebSocket connection was closed.

    The same object describes a close we started and one the peer started: ``code`` is the code
    actually sent or received (1006 when the TCP connection ended without a close frame, 1005
    when the peer's close frame carried no code).

    Attributes:
        code: the numeric close code.
        name: the code's name, e.g. ``NORMAL_CLOSURE``, or the name of its range
            (``RFC_RESERVED``, ``IANA_RESERVED``, ``PRIVATE_RESERVED``, ``INVALID_CODE``).
        reason: the reason text, or ``None``.
    """

    __slots__ = ("_code", "_name", "_reason")

    def __init__(self, code: int, reason: str | None) -> None:
        self._code = int(code)
        self._name = _code_name(self._code)
        self._reason = reason

    @property
    def code(self) -> int:
        """(Read-only) The numeric close code."""
        return self._code

    @property
    def name(self) -> str:
        """(Read-only) The human-readable close code."""
        return self._name

    @property
    def reason(self) -> str | None:
        """(Read-only) An arbitrary reason string."""
        return self._reason

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CloseReason):
            return NotImplemented
        return (self._code, self._reason) == (other._code, other._reason)

    def __hash__(self) -> int:
        return hash((self._code, self._reason))

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}<code={self.code}, name={self.name}, reason={self.reason}>"
        )
