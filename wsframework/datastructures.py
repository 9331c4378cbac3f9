"""Small value types shared by requests: headers, query parameters, per-request state."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, SupportsIndex, overload
from urllib.parse import parse_qsl

__all__ = ["Headers", "QueryParams", "State"]


class Headers(list[tuple[bytes, bytes]]):
    """Request headers: a list of ``(lower-case name, value)`` byte pairs, as trio-websocket gives,
    that can also be read like a case-insensitive mapping of ``str`` to ``str``.

    ``headers["origin"]``, ``headers.get("Origin")``, ``"origin" in headers`` and
    ``headers.getlist("cookie")`` look a name up without regard to case; integer indexing,
    iteration and ``(b"name", b"value") in headers`` behave as for the list.
    """

    @overload
    def __getitem__(self, key: SupportsIndex) -> tuple[bytes, bytes]: ...
    @overload
    def __getitem__(self, key: slice) -> list[tuple[bytes, bytes]]: ...
    @overload
    def __getitem__(self, key: str) -> str: ...
    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            value = self.get(key)
            if value is None:
                raise KeyError(key)
            return value
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            return self.get(key) is not None
        return super().__contains__(key)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (any case), decoded as Latin-1, or ``default``."""
        wanted = name.lower().encode("latin-1")
        for key, value in list.__iter__(self):
            if key.lower() == wanted:
                return value.decode("latin-1")
        return default

    def getlist(self, name: str) -> list[str]:
        """Every value of header ``name`` (any case), in order."""
        wanted = name.lower().encode("latin-1")
        return [v.decode("latin-1") for k, v in list.__iter__(self) if k.lower() == wanted]


class QueryParams:
    """Query string parameters; repeated keys are kept (``getlist``)."""

    def __init__(self, query: str | Iterable[tuple[str, str]] = "") -> None:
        if isinstance(query, str):
            self._items = parse_qsl(query, keep_blank_values=True)
        else:
            self._items = list(query)

    def __getitem__(self, key: str) -> str:
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of ``key``, or ``default``."""
        try:
            return self[key]
        except KeyError:
            return default

    def getlist(self, key: str) -> list[str]:
        """Every value of ``key``, in order."""
        return [v for k, v in self._items if k == key]

    def items(self) -> list[tuple[str, str]]:
        """All ``(key, value)`` pairs, repeated keys included."""
        return list(self._items)

    def keys(self) -> list[str]:
        """The distinct keys, in first-seen order."""
        return list(dict.fromkeys(k for k, _ in self._items))

    def __contains__(self, key: object) -> bool:
        return any(k == key for k, _ in self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, QueryParams):
            return self._items == other._items
        return NotImplemented

    def __repr__(self) -> str:
        return f"QueryParams({self._items!r})"


class State:
    """An attribute bag: ``request.state.user = ...``, ``app.state.db = ...``."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__[name] = value

    def __getattr__(self, name: str) -> Any:
        # Only called for missing attributes: say which one, as an AttributeError.
        raise AttributeError(f"state has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"State({self.__dict__!r})"
