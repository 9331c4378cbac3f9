"""Fuzz target for the router: templates, converters, ``url_path_for`` and ``match``.

Each input builds a route template (static text with any characters, parameters with any
converter, now and then a malformed template), values for its parameters (usually valid, now
and then not), and a few raw paths. Invariants:

* a template is either accepted or refused with :class:`RouteDefinitionError` (``TypeError``
  for a non-string), nothing else;
* ``url_path_for`` either refuses with :class:`NoMatchFound` or returns an ASCII path without
  ``?``, ``#`` or spaces which, percent-decoded, matches the route with the same parameters
  (each as its converter gives it back);
* ``Router.match`` of any path, kind and method never raises, and answers what trying the
  routes in registration order gives: the first of that kind (and method) that matches, else
  405 with the methods of the HTTP routes that match, else "other kind", else 404.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import unquote

from wsframework.exceptions import NoMatchFound, RouteDefinitionError
from wsframework.routing import Match, MatchStatus, Route, RouteKind, Router

from .source import Source

__all__ = ["routing"]

_CONVERTERS = ("", ":str", ":int", ":float", ":uuid", ":path")
_STATIC = "abc/-._~%:@!$&'()*+,;= é€/"


def _endpoint() -> None:
    """A route's endpoint (never called)."""


def _template(src: Source) -> tuple[str, list[tuple[str, str]]]:
    """A template and its parameters as ``(name, converter)``."""
    parts = ["/"]
    params: list[tuple[str, str]] = []
    for index in range(src.integer(0, 4)):
        if src.flag():
            parts.append(src.text(6, _STATIC) if src.integer(0, 7) else src.text(4))
        converter = src.choice(_CONVERTERS)
        if converter == ":path" and src.integer(0, 3):
            converter = ""
        name = f"p{index}"
        parts.append("{" + name + converter + "}")
        params.append((name, converter.lstrip(":") or "str"))
        if src.integer(0, 3):
            parts.append(src.choice(("/", "-", ".", "/x/", "_")))
    if src.chance(12):  # something malformed
        at = src.integer(0, len(parts))
        parts.insert(at, src.choice(("{", "}", "{}", "{1x}", "{a:nope}", "?", "#", "{p0}")))
    if src.chance(16):
        parts[0] = src.choice(("", "x", " /"))
    return "".join(parts), params


def _value(src: Source, converter: str) -> tuple[Any, bool]:
    """A value for a parameter, and whether it is valid for the converter."""
    if src.chance(10):  # anything at all
        return src.choice((-1, 1.5, -0.5, float("nan"), "", "a/b", None, "\ud800", 10**5000)), False
    if converter == "int":
        return src.integer(0, 1 << 64), True
    if converter == "float":
        bits = src.blob(8).ljust(8, b"\0")
        number = abs(float.fromhex(f"{int.from_bytes(bits, 'big') % (1 << 52):x}p-20"))
        return number if src.flag() else float(src.integer(0, 10**6)), True
    if converter == "uuid":
        return uuid.UUID(bytes=src.blob(16).ljust(16, b"\0")), True
    text = src.text(12) if src.flag() else src.text(12, "abc%/?#é +")
    if converter == "path":
        return text, True
    text = text.replace("/", "")
    return text or "x", True


def routing(data: bytes) -> None:
    """Fuzz target: route templates, ``url_path_for`` and ``match``."""
    src = Source(data)
    template, params = _template(src)
    try:
        route = Route(template, _endpoint, name="r")
    except RouteDefinitionError as exc:
        assert str(exc)
        return
    values = {}
    for name, converter in params:
        values[name], _valid = _value(src, converter)
    router = Router([route])
    try:
        path = router.url_path_for("r", **values)
    except NoMatchFound as exc:
        assert str(exc)
        # A valid value is refused only when its text cannot be told apart from its
        # neighbours' (two greedy parameters side by side, say): never silently.
        path = None
    if path is not None:
        assert path.isascii(), path
        assert not any(c in path for c in "?# "), path
        decoded = unquote(path)
        expected = {
            name: route.param_converters[name].convert(
                route.param_converters[name].to_string(value)
            )
            for name, value in values.items()
        }
        found = route.match(decoded)
        assert found == expected, f"{template!r} {values!r}: {path!r} matched as {found!r}"
        match = router.match(decoded, "websocket")
        assert match.status is MatchStatus.FOUND and match.params == expected
    else:
        decoded = ""
    paths = [decoded] if path is not None else []
    for _ in range(src.integer(1, 3)):
        paths.append(src.text(30, _STATIC) if src.flag() else "/" + src.text(20))
    _check_router(src, route, paths)


def _check_router(src: Source, first: Route, paths: list[str]) -> None:
    """Several routes of both kinds, matched against ``paths`` and the model."""
    router = Router()
    routes: list[Route] = []
    for index, template in enumerate([first.template] + [_template(src)[0] for _ in range(2)]):
        kind: RouteKind = "websocket" if src.flag() else "http"
        methods = None
        if kind == "http" and src.flag():
            methods = [src.choice(("GET", "post", "PUT", "DELETE")) for _ in range(2)]
        try:
            routes.append(
                router.add(Route(template, _endpoint, name=f"r{index}", kind=kind, methods=methods))
            )
        except RouteDefinitionError as exc:
            assert "conflicts with" in str(exc) or "invalid route template" in str(exc), exc
    assert router.routes == tuple(routes)
    for raw in paths:
        kind = "websocket" if src.flag() else "http"
        method = src.choice((None, "GET", "post", "HEAD", "PATCH"))
        got = router.match(raw, kind, method)
        want = _model_match(routes, raw, kind, method)
        assert got == want, f"{raw!r} {kind} {method}: {got!r}, expected {want!r}"
        assert got.found is (got.status is MatchStatus.FOUND)
        assert got.other_kind is (got.status is MatchStatus.OTHER_KIND)


def _model_match(routes: list[Route], path: str, kind: RouteKind, method: str | None) -> Match:
    """What Router.match must answer, from the routes tried one by one."""
    upper = method.upper() if method is not None and kind == "http" else None
    matching: list[tuple[Route, dict[str, Any]]] = []
    for r in routes:
        params = r.match(path)
        if params is not None:
            matching.append((r, params))
    for r, params in matching:
        if r.kind == kind and (upper is None or upper in r.methods):
            return Match(MatchStatus.FOUND, r, params)
    allowed = frozenset().union(*(r.methods for r, _ in matching if r.kind == kind))
    if allowed and upper is not None:
        return Match(MatchStatus.METHOD_NOT_ALLOWED, allowed_methods=allowed)
    if any(r.kind != kind for r, _ in matching):
        return Match(MatchStatus.OTHER_KIND)
    return Match(MatchStatus.NOT_FOUND)
