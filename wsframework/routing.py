"""Path templates, converters and the router behind ``@app.websocket(...)`` and HTTP routes.

A route is declared with a *template* such as ``"/rooms/{room}/{user_id:int}"``. Each
``{name}`` or ``{name:converter}`` placeholder captures part of the path, and the converter turns
the captured text into a typed value::

    router = Router()
    router.add(Route("/rooms/{room}/{user_id:int}", chat))
    match = router.match("/rooms/lobby/7", "websocket")
    match.params  # {"room": "lobby", "user_id": 7}
    router.url_path_for("chat", room="lobby", user_id=7)  # "/rooms/lobby/7"

Rules, shared with Starlette unless noted:

* The router matches the **path only**: strip the query string before calling
  :meth:`Router.match`.
* It matches the **percent-decoded** path (``WebSocketRequest.url_path`` is exactly that), so
  ``/rooms/caf%C3%A9`` matches ``/rooms/{room}`` with ``room == "café"``. A ``%2F`` therefore
  decodes to ``/`` and never matches a ``str`` parameter; use ``path`` for values containing
  slashes.
* Trailing slashes are significant: ``/rooms`` and ``/rooms/`` are different paths, and there is
  no redirect between them.
* Routes are tried in registration order and the first full match wins, so ``/users/me`` must
  be registered before ``/users/{id}``.
* Mistakes in templates, converters and route sets raise :class:`RouteDefinitionError` when the
  route is defined, never when a request arrives.

This module is pure Python with no I/O and no trio: the App layer turns a :class:`Match` into a
response (404, 405, 426, ...).

The converters and their registry live in :mod:`wsframework.converters` and are re-exported
here, as are :class:`RouteDefinitionError` and :class:`NoMatchFound`, which live in
:mod:`wsframework.exceptions` with every other exception of ours.
"""

from __future__ import annotations

import enum
import re
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args
from urllib.parse import quote

from .converters import (
    Converter,
    FloatConverter,
    IntConverter,
    PathConverter,
    StringConverter,
    UUIDConverter,
    _converters,
    register_converter,
    registered_converters,
)
from .exceptions import NoMatchFound, RouteDefinitionError

__all__ = [
    "Converter",
    "FloatConverter",
    "IntConverter",
    "Match",
    "MatchStatus",
    "NoMatchFound",
    "PathConverter",
    "Route",
    "RouteDefinitionError",
    "RouteKind",
    "Router",
    "StringConverter",
    "UUIDConverter",
    "register_converter",
    "registered_converters",
]

#: What a route answers: a WebSocket handshake or a plain HTTP request.
RouteKind = Literal["websocket", "http"]

_KINDS: frozenset[str] = frozenset(get_args(RouteKind))
_DEFAULT_HTTP_METHODS: frozenset[str] = frozenset({"GET", "HEAD"})
# RFC 9110 token characters, which is what an HTTP method is.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Characters kept as they are when building a URL path: RFC 3986 pchar minus the unreserved set
# (which quote() always keeps), plus "/".
_PATH_SAFE = "/:@!$&'()*+,;="


@dataclass(frozen=True)
class _Parsed:
    pattern: str
    converters: dict[str, Converter]
    # The template with every placeholder replaced by "{<converter name>}": two templates with
    # the same shape match exactly the same paths.
    shape: str
    # Alternating static text and parameter names, for url_path: ("/rooms/", "room", "").
    pieces: tuple[str, ...]


def _parse(template: str) -> _Parsed:
    """Validate and compile a template.

    Args:
        template: E.g. ``"/rooms/{room}/{user_id:int}"``.

    Returns:
        The regex source, converters by parameter, shape and pieces.

    Raises:
        RouteDefinitionError: Malformed template.
        TypeError: ``template`` is not a string.
    """
    if not isinstance(template, str):
        raise TypeError(f"route template must be a str, got {type(template).__name__}")

    def fail(reason: str) -> RouteDefinitionError:
        return RouteDefinitionError(f"invalid route template {template!r}: {reason}")

    if not template.startswith("/"):
        raise fail("it must start with '/'")
    try:
        template.encode("utf-8")
    except UnicodeEncodeError:
        raise fail("it is not valid Unicode (a lone surrogate)") from None
    pattern: list[str] = []
    shape: list[str] = []
    pieces: list[str] = []
    converters: dict[str, Converter] = {}
    pos = 0
    while True:
        opening = template.find("{", pos)
        closing = template.find("}", pos)
        if closing != -1 and (opening == -1 or closing < opening):
            raise fail(f"unbalanced '}}' at position {closing}")
        static = template[pos:] if opening == -1 else template[pos:opening]
        for char in "?#":
            if char in static:
                raise fail(
                    f"{char!r} is not allowed: routes match the path only, "
                    "without query string or fragment"
                )
        pattern.append(re.escape(static))
        shape.append(static)
        pieces.append(static)
        if opening == -1:
            break
        if closing == -1:
            raise fail(f"unbalanced '{{' at position {opening}")
        inner = template[opening + 1 : closing]
        nested = inner.find("{")
        if nested != -1:
            raise fail(f"unbalanced '{{' at position {opening} (another '{{' inside it)")
        name, colon, converter_name = inner.partition(":")
        if not name.isidentifier():
            raise fail(f"parameter name {name!r} in {{{inner}}} is not a Python identifier")
        if not colon:
            converter_name = "str"
        converter = _converters.get(converter_name)
        if converter is None:
            known = ", ".join(sorted(_converters))
            raise fail(
                f"unknown converter {converter_name!r} in {{{inner}}}; known converters: "
                f"{known} (add one with register_converter())"
            )
        if name in converters:
            raise fail(f"duplicate parameter name {name!r}")
        converters[name] = converter
        pattern.append(f"(?P<{name}>{converter.regex})")
        shape.append(f"{{{converter_name}}}")
        pieces.append(name)
        pos = closing + 1
    return _Parsed("".join(pattern), converters, "".join(shape), tuple(pieces))


def _normalize_methods(template: str, kind: str, methods: Iterable[str] | None) -> frozenset[str]:
    """Return the method set of a route, validated and upper-cased, HEAD added with GET."""
    if kind == "websocket":
        if methods is not None:
            raise RouteDefinitionError(
                f"websocket route {template!r} cannot have HTTP methods (got {methods!r})"
            )
        return frozenset()
    if methods is None:
        return _DEFAULT_HTTP_METHODS
    if isinstance(methods, (str, bytes)):
        raise TypeError(
            f"methods of route {template!r} must be a collection of strings, "
            f"not a single {type(methods).__name__} (write [{methods!r}])"
        )
    result: set[str] = set()
    for method in methods:
        if not isinstance(method, str) or not _TOKEN.fullmatch(method):
            raise RouteDefinitionError(f"invalid HTTP method {method!r} in route {template!r}")
        result.add(method.upper())
    if not result:
        raise RouteDefinitionError(f"http route {template!r} needs at least one method")
    if "GET" in result:
        result.add("HEAD")
    return frozenset(result)


@dataclass(frozen=True, eq=False, init=False)
class Route:
    """One path template bound to an endpoint.

    Routes compare by identity. All attributes are read-only.

    Attributes:
        template: The template as written, e.g. ``"/rooms/{room}/{user_id:int}"``.
        endpoint: What the App calls; opaque to the router.
        name: Name for :meth:`Router.url_path_for`; defaults to the endpoint's ``__name__``.
        kind: ``"websocket"`` or ``"http"``.
        methods: Upper-case HTTP methods of an ``http`` route (``HEAD`` is implied by
            ``GET``); empty for a ``websocket`` route.
        options: Extra per-route settings (``subprotocols``, ...), opaque to the router.
        regex: The compiled pattern; :meth:`match` uses ``regex.fullmatch``.
        param_converters: Converter of each parameter, in template order.
        shape: The template with parameter names dropped (``"/rooms/{str}/{int}"``); routes of
            the same shape match the same paths.
    """

    template: str
    endpoint: Any
    name: str
    kind: RouteKind
    methods: frozenset[str]
    options: dict[str, Any]
    regex: re.Pattern[str] = field(repr=False)
    param_converters: Mapping[str, Converter] = field(repr=False)
    shape: str = field(repr=False)
    _pieces: tuple[str, ...] = field(repr=False)

    def __init__(
        self,
        template: str,
        endpoint: Any,
        *,
        name: str | None = None,
        kind: RouteKind = "websocket",
        methods: Iterable[str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        """Validate and compile a route.

        Args:
            template: Path template; must start with ``/``.
            endpoint: The handler; opaque to the router.
            name: Route name; defaults to ``endpoint.__name__`` (or its class name).
            kind: ``"websocket"`` (default) or ``"http"``.
            methods: HTTP methods of an ``http`` route, default ``{"GET", "HEAD"}``; ``HEAD``
                is added whenever ``GET`` is present. Must be ``None`` for ``websocket``.
            options: Extra settings kept in :attr:`options` (copied).

        Raises:
            RouteDefinitionError: Malformed template, unknown converter, bad kind, name or
                methods.
            TypeError: ``template`` is not a string or ``methods`` is a single string.
        """
        parsed = _parse(template)
        if kind not in _KINDS:
            raise RouteDefinitionError(
                f"route {template!r}: kind must be 'websocket' or 'http', got {kind!r}"
            )
        if name is None:
            name = getattr(endpoint, "__name__", None) or type(endpoint).__name__
        if not isinstance(name, str) or not name:
            raise RouteDefinitionError(
                f"route {template!r}: name must be a non-empty str, got {name!r}"
            )
        init = object.__setattr__
        init(self, "template", template)
        init(self, "endpoint", endpoint)
        init(self, "name", name)
        init(self, "kind", kind)
        init(self, "methods", _normalize_methods(template, kind, methods))
        init(self, "options", dict(options or {}))
        init(self, "regex", re.compile(parsed.pattern, re.DOTALL))
        init(self, "param_converters", types.MappingProxyType(parsed.converters))
        init(self, "shape", parsed.shape)
        init(self, "_pieces", parsed.pieces)

    def match(self, path: str) -> dict[str, Any] | None:
        """Match a path against the template, ignoring kind and method.

        Args:
            path: The percent-decoded path, without query string.

        Returns:
            The converted parameters (``{}`` for a template without any), or ``None`` if the
            path does not match or a converter rejected a value with ``ValueError``.
        """
        found = self.regex.fullmatch(path)
        if found is None:
            return None
        if not self.param_converters:
            return {}
        params = found.groupdict()
        try:
            for name, converter in self.param_converters.items():
                params[name] = converter.convert(params[name])
        except ValueError:
            return None
        return params

    def url_path(self, /, **params: Any) -> str:
        """Build the URL path for the given parameter values.

        Each value goes through its converter's ``to_string``, must match the converter's
        regex (so ``Route.match`` on the decoded result gives the values back), and is then
        percent-quoted; ``/`` is kept as is (it only appears for ``path`` or custom converters
        that allow it). Static parts of the template are quoted the same way.

        Args:
            **params: One value for each parameter of the template, and nothing else.

        Returns:
            The percent-encoded path, e.g. ``"/rooms/caf%C3%A9/7"``.

        Raises:
            NoMatchFound: A parameter is missing or unexpected, a value cannot be
                converted or does not match its converter's regex, or the path would match
                back with other values (``"/{a}{b}"``, or ``a="x-y"`` in ``"/{a}-{b}"``).
        """
        expected = self.param_converters.keys()
        missing = [name for name in expected if name not in params]
        extra = [name for name in params if name not in expected]
        if missing or extra:
            problems = []
            if missing:
                problems.append(f"missing {', '.join(map(repr, missing))}")
            if extra:
                problems.append(f"unexpected {', '.join(map(repr, extra))}")
            raise NoMatchFound(
                f"route {self.name!r} ({self.template}) takes parameters "
                f"[{', '.join(expected)}]: {'; '.join(problems)}"
            )
        out: list[str] = []
        texts: dict[str, str] = {}
        for index, piece in enumerate(self._pieces):
            if index % 2 == 0:
                out.append(quote(piece, safe=_PATH_SAFE))
                continue
            converter = self.param_converters[piece]
            value = params[piece]
            label = f"route {self.name!r} ({self.template})"
            try:
                text = converter.to_string(value)
            except (ValueError, TypeError, OverflowError) as exc:
                raise NoMatchFound(
                    f"{label}: invalid value {_describe(value)} for parameter {piece!r}: {exc}"
                ) from exc
            if not isinstance(text, str) or not re.fullmatch(converter.regex, text, re.DOTALL):
                raise NoMatchFound(
                    f"{label}: value {_describe(value)} for parameter {piece!r} renders as "
                    f"{_describe(text)}, which the converter's regex {converter.regex!r} does "
                    "not match"
                )
            try:
                out.append(quote(text, safe=_PATH_SAFE))
            except UnicodeEncodeError:
                raise NoMatchFound(
                    f"{label}: value {_describe(value)} for parameter {piece!r} is not valid "
                    "Unicode (it has a lone surrogate)"
                ) from None
            texts[piece] = text
        # Matching the path must give the values back. It would not where a value's text can
        # be split another way: two parameters side by side ("{a}{b}"), or a value containing
        # the static text after its parameter ("{a}-{b}" with a == "x-y").
        found = self.regex.fullmatch(
            "".join(self._pieces[i] if i % 2 == 0 else texts[p] for i, p in enumerate(self._pieces))
        )
        if found is None or found.groupdict() != texts:
            raise NoMatchFound(
                f"route {self.name!r} ({self.template}): the values "
                f"{', '.join(f'{n}={_describe(params[n])}' for n in texts)} make a path that "
                "the template splits differently, so it would not match them back"
            )
        return "".join(out)

    def __str__(self) -> str:
        return f"{self.kind} route {self.template!r} (name {self.name!r})"


def _describe(value: Any) -> str:
    """``repr(value)`` for an error message, shortened (an int too long to print included)."""
    try:
        text = repr(value)
    except ValueError:
        return f"<an {type(value).__name__} too large to print>"
    return text if len(text) <= 80 else text[:77] + "..."


class MatchStatus(enum.Enum):
    """Outcome of :meth:`Router.match`."""

    #: A route of the requested kind (and method) matched: ``Match.route`` is set.
    FOUND = "found"
    #: No route matches the path (the App answers 404).
    NOT_FOUND = "not_found"
    #: Only routes of the other kind match the path: a WebSocket route hit by plain HTTP (the
    #: App answers 426), or an HTTP route hit by a WebSocket handshake.
    OTHER_KIND = "other_kind"
    #: HTTP routes match the path but none accepts the method (the App answers 405 with
    #: ``Allow: <Match.allowed_methods>``).
    METHOD_NOT_ALLOWED = "method_not_allowed"


@dataclass(frozen=True)
class Match:
    """Result of :meth:`Router.match`.

    Attributes:
        status: What happened.
        route: The matched route when ``status`` is ``FOUND``, else ``None``.
        params: Converted path parameters of ``route`` (``{}`` unless ``FOUND``).
        allowed_methods: For ``METHOD_NOT_ALLOWED``, every method the matching HTTP routes
            accept; else empty.
    """

    status: MatchStatus
    route: Route | None = None
    params: dict[str, Any] = field(default_factory=dict)
    allowed_methods: frozenset[str] = frozenset()

    @property
    def found(self) -> bool:
        """Whether ``status`` is ``FOUND`` (and so ``route`` is set)."""
        return self.status is MatchStatus.FOUND

    @property
    def other_kind(self) -> bool:
        """Whether ``status`` is ``OTHER_KIND`` (only routes of the other kind match)."""
        return self.status is MatchStatus.OTHER_KIND


class Router:
    """An ordered set of routes, matched first-registered-first.

    Args:
        routes: Routes to :meth:`add`, in order.
    """

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self._routes: list[Route] = []
        self._by_name: dict[str, Route] = {}
        for route in routes:
            self.add(route)

    @property
    def routes(self) -> tuple[Route, ...]:
        """The routes in matching (registration) order.

        Each carries ``template``, ``name``, ``kind``, ``methods`` and ``options`` for listings.
        """
        return tuple(self._routes)

    def add(self, route: Route) -> Route:
        """Append a route after checking it against the routes already added.

        Two routes conflict when they have the same kind and the same shape (same static text
        and same converters in the same places, whatever the parameter names), since the second
        could never match; two ``http`` routes of the same shape are allowed when their method
        sets do not overlap (``GET /items/{id}`` and ``DELETE /items/{id}``). Overlapping
        routes of different shapes (``/users/me`` and ``/users/{id}``) are fine: the first
        added wins.

        Args:
            route: The route.

        Returns:
            ``route``, so ``add`` can serve decorators.

        Raises:
            RouteDefinitionError: The name is already used, or the route conflicts with an
                earlier one; the message names both routes.
            TypeError: ``route`` is not a :class:`Route`.
        """
        if not isinstance(route, Route):
            raise TypeError(f"Router.add() takes a Route, got {type(route).__name__}")
        other = self._by_name.get(route.name)
        if other is not None:
            raise RouteDefinitionError(
                f"duplicate route name {route.name!r}: {route} and {other}; "
                "pass name=... to tell them apart"
            )
        for other in self._routes:
            if (
                other.kind == route.kind
                and other.shape == route.shape
                and (route.kind == "websocket" or other.methods & route.methods)
            ):
                methods = ""
                if route.kind == "http":
                    methods = f" for {', '.join(sorted(other.methods & route.methods))}"
                raise RouteDefinitionError(
                    f"{route} conflicts with {other}: both match exactly the same paths"
                    f"{methods}, so the second could never be reached"
                )
        self._routes.append(route)
        self._by_name[route.name] = route
        return route

    def match(self, path: str, kind: RouteKind, method: str | None = None) -> Match:
        """Find the route for a request.

        Args:
            path: The percent-decoded path without the query string, e.g.
                ``request.url_path``. Not stripped or normalised any further.
            kind: ``"websocket"`` for a WebSocket handshake, ``"http"`` for a plain request.
            method: For ``http``, the request method (compared upper-cased); ``None`` skips the
                method check. Ignored for ``websocket``.

        Returns:
            A :class:`Match`. ``FOUND`` for the first route (in registration order) of that
            kind whose template matches and which accepts the method; otherwise
            ``METHOD_NOT_ALLOWED`` if HTTP routes match the path with other methods, else
            ``OTHER_KIND`` if routes of the other kind match it, else ``NOT_FOUND``.

        Raises:
            ValueError: ``kind`` is neither ``"websocket"`` nor ``"http"``.
        """
        if kind not in _KINDS:
            raise ValueError(f"kind must be 'websocket' or 'http', got {kind!r}")
        method = method.upper() if method is not None and kind == "http" else None
        allowed: set[str] = set()
        other_kind = False
        for route in self._routes:
            if route.kind != kind:
                if not other_kind and route.match(path) is not None:
                    other_kind = True
                continue
            params = route.match(path)
            if params is None:
                continue
            if method is not None and method not in route.methods:
                allowed |= route.methods
                continue
            return Match(MatchStatus.FOUND, route, params)
        if allowed:
            return Match(MatchStatus.METHOD_NOT_ALLOWED, allowed_methods=frozenset(allowed))
        return Match(MatchStatus.OTHER_KIND if other_kind else MatchStatus.NOT_FOUND)

    def url_path_for(self, name: str, /, **params: Any) -> str:
        """Build the path of the route called ``name``.

        Args:
            name: The route's name (positional, so a parameter may be called ``name``).
            **params: Values for the route's parameters, see :meth:`Route.url_path`.

        Returns:
            The percent-encoded path.

        Raises:
            NoMatchFound: No route has that name, or the parameters are wrong.
        """
        route = self._by_name.get(name)
        if route is None:
            known = ", ".join(map(repr, self._by_name)) or "none"
            raise NoMatchFound(f"no route named {name!r}; route names: {known}")
        return route.url_path(**params)
