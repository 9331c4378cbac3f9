"""Path converters: what ``{name:converter}`` in a route template captures and yields.

The built-in converters (``str``, ``int``, ``float``, ``uuid``, ``path``), the :class:`Converter`
protocol for custom ones, and the process-wide registry that :func:`register_converter` adds to.
Everything here is re-exported by :mod:`wsframework.routing`, which looks converters up in the
registry when a route is created. Pure Python, no I/O, no trio.
"""

from __future__ import annotations

import re
import types
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol

from .exceptions import RouteDefinitionError

__all__ = [
    "Converter",
    "FloatConverter",
    "IntConverter",
    "PathConverter",
    "RouteDefinitionError",
    "StringConverter",
    "UUIDConverter",
    "register_converter",
    "registered_converters",
]


class Converter(Protocol):
    """What a path converter provides; the same shape as Starlette's ``Convertor``.

    Attributes:
        regex: Regular expression for the text one parameter may capture. It is embedded in the
            route's pattern, so it must not contain named groups. Routes are compiled with
            ``re.DOTALL``.
    """

    @property
    def regex(self) -> str:
        """Regular expression for the captured text."""
        ...

    def convert(self, value: str) -> Any:
        """Turn captured text into the parameter's value.

        Args:
            value: The text the regex captured, already percent-decoded.

        Returns:
            The typed value put in the match's ``params``.

        Raises:
            ValueError: The text is not acceptable after all; the route then does not match.
        """
        ...

    def to_string(self, value: Any) -> str:
        """Turn a parameter value back into path text, for :meth:`Route.url_path`.

        Args:
            value: The value passed to ``url_path`` / ``url_path_for``.

        Returns:
            Unquoted text that the converter's regex matches.

        Raises:
            ValueError: The value cannot be represented.
            TypeError: The value has a wrong type.
        """
        ...


class StringConverter:
    """``str`` (the default): one non-empty path segment, without ``/``."""

    regex = "[^/]+"

    def convert(self, value: str) -> str:
        """Return the text unchanged.

        Args:
            value: The captured segment.

        Returns:
            ``value``.
        """
        return value

    def to_string(self, value: Any) -> str:
        """Return ``str(value)``.

        Args:
            value: Any value; it must not render as empty or contain ``/``.

        Returns:
            The text form of ``value``.
        """
        return str(value)


class IntConverter:
    """``int``: one or more ASCII digits, as a non-negative ``int`` (``-1`` does not match)."""

    regex = "[0-9]+"

    def convert(self, value: str) -> int:
        """Parse the digits.

        Args:
            value: The captured digits.

        Returns:
            The integer; leading zeros are allowed (``"007"`` gives ``7``).
        """
        return int(value)

    def to_string(self, value: Any) -> str:
        """Render a non-negative integer.

        Args:
            value: An ``int`` (or a string of digits).

        Returns:
            The decimal digits.

        Raises:
            ValueError: ``value`` is negative or not an integer.
        """
        number = int(value)
        if number < 0:
            raise ValueError(f"negative integer {number} cannot be in an int path parameter")
        return str(number)


class FloatConverter:
    """``float``: digits with an optional fractional part (``1``, ``1.5``), as a ``float``.

    Signs, exponents, ``nan`` and ``inf`` do not match.
    """

    regex = r"[0-9]+(?:\.[0-9]+)?"

    def convert(self, value: str) -> float:
        """Parse the number.

        Args:
            value: The captured text.

        Returns:
            The ``float``.
        """
        return float(value)

    def to_string(self, value: Any) -> str:
        """Render a finite non-negative number in plain decimal notation, exactly.

        Args:
            value: A ``float`` or ``int``.

        Returns:
            Text such that ``convert(to_string(value)) == value`` (``1e-30`` renders with all
            its zeros, never with an exponent).

        Raises:
            ValueError: ``value`` is negative, ``nan`` or infinite.
        """
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(
                f"{type(value).__name__} too large for a float path parameter"
            ) from None
        if number != number or number in (float("inf"), float("-inf")) or number < 0:
            raise ValueError(f"{number!r} cannot be in a float path parameter")
        return format(Decimal(repr(number)), "f")


class UUIDConverter:
    """``uuid``: the canonical 8-4-4-4-12 hex form (either case), as a :class:`uuid.UUID`.

    Unlike Starlette, upper-case hex digits match too; :meth:`to_string` writes lower case.
    """

    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

    def convert(self, value: str) -> uuid.UUID:
        """Parse the UUID.

        Args:
            value: The captured text.

        Returns:
            The :class:`uuid.UUID`.
        """
        return uuid.UUID(value)

    def to_string(self, value: Any) -> str:
        """Render a UUID in canonical lower-case form.

        Args:
            value: A :class:`uuid.UUID` or any string :class:`uuid.UUID` accepts.

        Returns:
            The 36-character canonical form.

        Raises:
            ValueError: A string that is not a UUID.
        """
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


class PathConverter(StringConverter):
    """``path``: the rest of the path, ``/`` included, possibly empty.

    Values convert as for ``str``: unchanged, and ``str(value)`` (slashes kept) for URLs.
    """

    regex = ".*"


_BUILTIN_CONVERTERS: dict[str, Converter] = {
    "str": StringConverter(),
    "int": IntConverter(),
    "float": FloatConverter(),
    "uuid": UUIDConverter(),
    "path": PathConverter(),
}
_converters: dict[str, Converter] = dict(_BUILTIN_CONVERTERS)


def register_converter(name: str, converter: Converter) -> None:
    """Make ``{param:name}`` available in templates defined from now on.

    The registry is process-wide, like Starlette's ``register_url_convertor``. Routes look their
    converters up when they are created, so register before declaring routes.

    Args:
        name: A Python identifier, not already registered. Registering the very same converter
            object again under the same name does nothing.
        converter: An *instance* with ``regex``, ``convert`` and ``to_string``
            (see :class:`Converter`).

    Raises:
        RouteDefinitionError: The name is not an identifier or is taken (the built-in names
            ``str``, ``int``, ``float``, ``uuid`` and ``path`` always are), or the regex does not
            compile or has named groups.
        TypeError: ``converter`` is a class, or lacks a string ``regex`` or callable
            ``convert``/``to_string``.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise RouteDefinitionError(f"converter name {name!r} is not a Python identifier")
    if isinstance(converter, type):
        raise TypeError(
            f"register_converter({name!r}, ...) needs a converter instance, not the class "
            f"{converter.__name__}; pass {converter.__name__}()"
        )
    regex = getattr(converter, "regex", None)
    if not isinstance(regex, str):
        raise TypeError(f"converter {name!r} needs a string attribute 'regex', got {regex!r}")
    for method in ("convert", "to_string"):
        if not callable(getattr(converter, method, None)):
            raise TypeError(f"converter {name!r} needs a method {method}()")
    existing = _converters.get(name)
    if existing is converter:
        return
    if existing is not None:
        raise RouteDefinitionError(f"converter name {name!r} is already registered to {existing!r}")
    try:
        compiled = re.compile(regex)
    except re.error as exc:
        raise RouteDefinitionError(
            f"converter {name!r} has an invalid regex {regex!r}: {exc}"
        ) from None
    if compiled.groupindex:
        raise RouteDefinitionError(
            f"converter {name!r} regex {regex!r} must not contain named groups "
            f"({', '.join(compiled.groupindex)}); use (?:...)"
        )
    _converters[name] = converter


def registered_converters() -> Mapping[str, Converter]:
    """Return a read-only live view of the converter registry, by name.

    Returns:
        The built-in and registered converters.
    """
    return types.MappingProxyType(_converters)
