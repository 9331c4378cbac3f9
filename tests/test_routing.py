"""The router and routes (wsframework.routing, no I/O): the module itself, Route attributes,
methods, custom converters, conflicts and names, matching.

Templates and the built-in converters are in ``test_routing_templates.py``; URL building in
``test_routing_url_path_for.py``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any, ClassVar

import pytest

from wsframework import converters, exceptions, routing
from wsframework.routing import (
    Converter,
    Match,
    MatchStatus,
    NoMatchFound,
    Route,
    RouteDefinitionError,
    RouteKind,
    Router,
    register_converter,
    registered_converters,
)

from .routing_helpers import chat, http, lobby, ws

pytestmark = pytest.mark.usefixtures("restore_converter_registry")


# --- the module itself ----------------------------------------------------------------------


def test_module_imports_stdlib_only() -> None:
    tree = ast.parse(Path(str(routing.__file__)).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # The converters live in wsframework.converters, the exceptions in
                # wsframework.exceptions (both stdlib-only: see their tests).
                assert node.level == 1, ast.unparse(node)
                assert node.module in {"converters", "exceptions"}, ast.unparse(node)
                continue
            imported.add((node.module or "").split(".")[0])
    assert "trio" not in imported
    assert imported <= {
        "__future__",
        "collections",
        "dataclasses",
        "decimal",
        "enum",
        "re",
        "types",
        "typing",
        "urllib",
        "uuid",
    }


def test_all_is_complete() -> None:
    for name in routing.__all__:
        assert hasattr(routing, name), name


def test_converters_are_re_exported() -> None:
    for name in converters.__all__:
        assert getattr(routing, name) is getattr(converters, name), name
    assert routing._converters is converters._converters  # one registry (see the fixture)
    assert RouteDefinitionError is converters.RouteDefinitionError


def test_exceptions_are_re_exported_from_the_exception_tree() -> None:
    assert RouteDefinitionError is exceptions.RouteDefinitionError
    assert NoMatchFound is exceptions.NoMatchFound
    assert issubclass(RouteDefinitionError, ValueError)
    assert issubclass(NoMatchFound, LookupError)


# --- Route attributes -----------------------------------------------------------------------


def test_route_defaults() -> None:
    route = Route("/chat", chat)
    assert route.name == "chat"
    assert route.kind == "websocket"
    assert route.methods == frozenset()
    assert route.options == {}
    assert route.endpoint is chat
    assert route.template == "/chat"
    assert isinstance(route.regex, re.Pattern)


def test_route_name_falls_back_to_the_class_name() -> None:
    class Endpoint:
        async def __call__(self) -> None: ...

    assert Route("/x", Endpoint()).name == "Endpoint"


@pytest.mark.parametrize("name", ["", 3])
def test_route_name_must_be_a_non_empty_string(name: Any) -> None:
    with pytest.raises(RouteDefinitionError, match="name must be a non-empty str"):
        Route("/x", chat, name=name)


def test_route_kind_is_checked() -> None:
    with pytest.raises(RouteDefinitionError, match="kind must be 'websocket' or 'http'"):
        Route("/x", chat, kind="sse")  # type: ignore[arg-type]


def test_options_are_copied_and_opaque() -> None:
    options = {"subprotocols": ["chat.v2", "chat.v1"], "anything": object()}
    route = Route("/x", chat, options=options)
    options["late"] = 1
    assert route.options == {
        "subprotocols": ["chat.v2", "chat.v1"],
        "anything": options["anything"],
    }


def test_route_is_read_only_and_compares_by_identity() -> None:
    route = ws("/x")
    with pytest.raises(AttributeError):
        route.template = "/y"  # type: ignore[misc]
    assert route != ws("/x")
    assert route == route
    assert len({route, ws("/x")}) == 2


def test_route_repr_and_str() -> None:
    route = http("/x", name="x", methods=["POST"])
    assert "template='/x'" in repr(route)
    assert "regex" not in repr(route)
    assert str(route) == "http route '/x' (name 'x')"


# --- methods --------------------------------------------------------------------------------


def test_http_default_methods() -> None:
    assert http("/x").methods == frozenset({"GET", "HEAD"})


def test_http_methods_are_upper_cased_and_get_implies_head() -> None:
    assert http("/x", methods=["get", "Post"]).methods == frozenset({"GET", "HEAD", "POST"})
    assert http("/x", methods=("POST",)).methods == frozenset({"POST"})
    assert http("/x", methods={"DELETE", "PATCH"}).methods == frozenset({"DELETE", "PATCH"})


def test_http_methods_validation() -> None:
    with pytest.raises(TypeError, match=r"not a single str \(write \['GET'\]\)"):
        http("/x", methods="GET")
    with pytest.raises(RouteDefinitionError, match="at least one method"):
        http("/x", methods=[])
    with pytest.raises(RouteDefinitionError, match="invalid HTTP method 'GE T'"):
        http("/x", methods=["GE T"])
    with pytest.raises(RouteDefinitionError, match="invalid HTTP method"):
        http("/x", methods=[b"GET"])


def test_websocket_routes_take_no_methods() -> None:
    with pytest.raises(RouteDefinitionError, match="websocket route '/x' cannot have HTTP methods"):
        ws("/x", methods=["GET"])


# --- custom converters ----------------------------------------------------------------------


class SlugConverter:
    regex = "[a-z0-9]+(?:-[a-z0-9]+)*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: Any) -> str:
        return str(value)


class DateConverter:
    """Validates in convert(): a ValueError there means "no match"."""

    regex = "[0-9]{4}-[0-9]{2}-[0-9]{2}"

    def convert(self, value: str) -> tuple[int, int, int]:
        year, month, day = map(int, value.split("-"))
        if not (1 <= month <= 12 and 1 <= day <= 31):
            raise ValueError(value)
        return year, month, day

    def to_string(self, value: Any) -> str:
        year, month, day = value
        return f"{year:04d}-{month:02d}-{day:02d}"


class GroupedConverter:
    """An unnamed capturing group inside a converter regex must not shift the parameters."""

    regex = "(a|b)+"

    def convert(self, value: str) -> int:
        return len(value)

    def to_string(self, value: Any) -> str:
        return "a" * int(value)


class StarletteStyleConverter:
    """Starlette declares regex as a ClassVar; it satisfies the protocol just the same."""

    regex: ClassVar[str] = "[A-Z]{3}"

    def convert(self, value: str) -> str:
        return value.lower()

    def to_string(self, value: str) -> str:
        return value.upper()


def test_custom_converter() -> None:
    register_converter("t_slug", SlugConverter())
    route = ws("/posts/{slug:t_slug}", name="post")
    assert route.match("/posts/hello-world") == {"slug": "hello-world"}
    assert route.match("/posts/Hello") is None
    assert route.match("/posts/hello--world") is None
    assert route.url_path(slug="hello-world") == "/posts/hello-world"
    assert route.shape == "/posts/{t_slug}"
    assert "t_slug" in registered_converters()


def test_custom_converter_can_reject_in_convert() -> None:
    register_converter("t_date", DateConverter())
    route = ws("/day/{d:t_date}")
    assert route.match("/day/2024-02-29") == {"d": (2024, 2, 29)}
    assert route.match("/day/2024-13-01") is None
    assert route.url_path(d=(2024, 1, 5)) == "/day/2024-01-05"


def test_custom_converter_with_capturing_group() -> None:
    register_converter("t_grouped", GroupedConverter())
    route = ws("/{a:t_grouped}/{b:int}")
    assert route.match("/abab/7") == {"a": 4, "b": 7}
    assert route.url_path(a=2, b=7) == "/aa/7"


def test_starlette_style_converter() -> None:
    converter: Converter = StarletteStyleConverter()
    register_converter("t_currency", converter)
    route = ws("/fx/{code:t_currency}")
    assert route.match("/fx/EUR") == {"code": "eur"}
    assert route.url_path(code="usd") == "/fx/USD"


def test_converter_registered_later_does_not_change_existing_routes() -> None:
    with pytest.raises(RouteDefinitionError, match="unknown converter 't_late'"):
        ws("/x/{v:t_late}")
    register_converter("t_late", SlugConverter())
    assert ws("/x/{v:t_late}").match("/x/ok") == {"v": "ok"}


# --- Router: conflicts and names ------------------------------------------------------------


def test_same_shape_conflicts_naming_both() -> None:
    router = Router([ws("/a/{x}", name="first")])
    with pytest.raises(RouteDefinitionError) as info:
        router.add(ws("/a/{y}", name="second"))
    message = str(info.value)
    assert "'/a/{y}'" in message and "'second'" in message
    assert "'/a/{x}'" in message and "'first'" in message
    assert "exactly the same paths" in message
    assert len(router.routes) == 1


def test_default_converter_is_the_same_shape_as_explicit_str() -> None:
    router = Router([ws("/a/{x}", name="first")])
    with pytest.raises(RouteDefinitionError, match="conflicts"):
        router.add(ws("/a/{x:str}", name="second"))


def test_identical_static_templates_conflict() -> None:
    router = Router([ws("/chat", name="a")])
    with pytest.raises(RouteDefinitionError, match="conflicts"):
        router.add(ws("/chat", name="b"))


def test_different_shapes_do_not_conflict() -> None:
    router = Router(
        [
            ws("/a/{x}", name="a"),
            ws("/a/{x:int}", name="b"),
            ws("/a/{x:path}", name="c"),
            ws("/a/{x}/", name="d"),
            ws("/a/me", name="e"),
        ]
    )
    assert [route.name for route in router.routes] == ["a", "b", "c", "d", "e"]


def test_same_template_different_kinds_do_not_conflict() -> None:
    router = Router([ws("/chat", name="chat_ws"), http("/chat", name="chat_page")])
    assert len(router.routes) == 2


def test_http_same_shape_conflicts_only_on_shared_methods() -> None:
    router = Router(
        [
            http("/items/{id:int}", name="get_item"),
            http("/items/{item_id:int}", name="delete_item", methods=["DELETE"]),
        ]
    )
    with pytest.raises(RouteDefinitionError, match="for HEAD"):
        router.add(http("/items/{i:int}", name="head_item", methods=["HEAD", "PUT"]))
    assert len(router.routes) == 2


def test_duplicate_names() -> None:
    router = Router([ws("/a", name="same")])
    with pytest.raises(RouteDefinitionError) as info:
        router.add(http("/b", name="same"))
    assert "duplicate route name 'same'" in str(info.value)
    assert "'/a'" in str(info.value) and "'/b'" in str(info.value)
    assert "name=" in str(info.value)


def test_default_names_collide_when_one_endpoint_serves_two_paths() -> None:
    router = Router([Route("/chat", chat)])
    with pytest.raises(RouteDefinitionError, match="duplicate route name 'chat'"):
        router.add(Route("/chat/{room}", chat))
    router.add(Route("/chat/{room}", chat, name="chat_room"))
    assert [route.name for route in router.routes] == ["chat", "chat_room"]


def test_same_route_object_twice() -> None:
    route = ws("/a")
    router = Router([route])
    with pytest.raises(RouteDefinitionError, match="duplicate route name"):
        router.add(route)


def test_add_returns_the_route_and_checks_its_type() -> None:
    router = Router()
    route = ws("/a")
    assert router.add(route) is route
    with pytest.raises(TypeError, match="takes a Route"):
        router.add("/b")  # type: ignore[arg-type]


def test_routes_listing() -> None:
    router = Router()
    router.add(Route("/rooms/{room}", chat, options={"subprotocols": ["v1"]}))
    router.add(Route("/", lobby, kind="http"))
    listing = [(r.template, r.name, r.kind, r.options) for r in router.routes]
    assert listing == [
        ("/rooms/{room}", "chat", "websocket", {"subprotocols": ["v1"]}),
        ("/", "lobby", "http", {}),
    ]
    assert isinstance(router.routes, tuple)


# --- Router.match ---------------------------------------------------------------------------


def test_match_found() -> None:
    route = ws("/rooms/{room}/{user_id:int}")
    router = Router([route])
    match = router.match("/rooms/lobby/7", "websocket")
    assert match == Match(MatchStatus.FOUND, route, {"room": "lobby", "user_id": 7})
    assert match.found and not match.other_kind
    assert match.allowed_methods == frozenset()


def test_match_not_found() -> None:
    router = Router([ws("/rooms/{room}"), http("/", methods=["GET"])])
    kinds: tuple[RouteKind, ...] = ("websocket", "http")
    for kind in kinds:
        match = router.match("/nothing", kind)
        assert match.status is MatchStatus.NOT_FOUND
        assert match.route is None and match.params == {}
        assert not match.found and not match.other_kind


def test_empty_router() -> None:
    assert Router().match("/", "websocket").status is MatchStatus.NOT_FOUND
    assert Router().routes == ()


def test_websocket_route_hit_by_http() -> None:
    router = Router([ws("/chat")])
    match = router.match("/chat", "http", "GET")
    assert match.status is MatchStatus.OTHER_KIND
    assert match.other_kind
    assert match.route is None and not match.found


def test_http_route_hit_by_websocket() -> None:
    router = Router([http("/page")])
    match = router.match("/page", "websocket")
    assert match.status is MatchStatus.OTHER_KIND
    assert match.route is None


def test_same_path_both_kinds() -> None:
    socket, page = ws("/chat", name="socket"), http("/chat", name="page")
    router = Router([socket, page])
    assert router.match("/chat", "websocket").route is socket
    assert router.match("/chat", "http", "GET").route is page
    router = Router([page, socket])
    assert router.match("/chat", "websocket").route is socket
    assert router.match("/chat", "http", "GET").route is page


def test_method_not_allowed() -> None:
    router = Router([http("/items", name="list"), http("/items", name="create", methods=["POST"])])
    assert router.match("/items", "http", "POST").route is router.routes[1]
    assert router.match("/items", "http", "GET").route is router.routes[0]
    assert router.match("/items", "http", "HEAD").route is router.routes[0]
    match = router.match("/items", "http", "DELETE")
    assert match.status is MatchStatus.METHOD_NOT_ALLOWED
    assert match.allowed_methods == frozenset({"GET", "HEAD", "POST"})
    assert match.route is None and match.params == {} and not match.found


def test_method_is_compared_upper_cased() -> None:
    router = Router([http("/items", methods=["POST"])])
    assert router.match("/items", "http", "post").found


def test_no_method_skips_the_method_check() -> None:
    router = Router([http("/items", methods=["POST"])])
    assert router.match("/items", "http").found


def test_method_is_ignored_for_websocket() -> None:
    router = Router([ws("/chat")])
    assert router.match("/chat", "websocket", "POST").found


def test_method_not_allowed_wins_over_other_kind() -> None:
    router = Router([ws("/chat"), http("/chat", name="page")])
    match = router.match("/chat", "http", "PUT")
    assert match.status is MatchStatus.METHOD_NOT_ALLOWED
    assert match.allowed_methods == frozenset({"GET", "HEAD"})


def test_a_later_route_with_the_method_wins_over_method_not_allowed() -> None:
    by_id = http("/users/{id}", name="user")
    me = http("/users/me", name="update_me", methods=["PUT"])
    router = Router([by_id, me])
    assert router.match("/users/me", "http", "PUT").route is me
    match = router.match("/users/me", "http", "GET")
    assert match.route is by_id and match.params == {"id": "me"}
    assert router.match("/users/7", "http", "PUT").allowed_methods == frozenset({"GET", "HEAD"})


def test_first_registered_wins() -> None:
    me, by_id = ws("/users/me", name="me"), ws("/users/{id}", name="by_id")
    router = Router([me, by_id])
    assert router.match("/users/me", "websocket").route is me
    assert router.match("/users/7", "websocket").params == {"id": "7"}
    router = Router([by_id, me])
    assert router.match("/users/me", "websocket").route is by_id  # "me" is shadowed


def test_overlapping_converters_first_wins() -> None:
    as_int, as_str = ws("/n/{n:int}", name="i"), ws("/n/{n}", name="s")
    router = Router([as_int, as_str])
    assert router.match("/n/7", "websocket").params == {"n": 7}
    assert router.match("/n/x", "websocket") == Match(MatchStatus.FOUND, as_str, {"n": "x"})


def test_converter_rejection_falls_through_to_the_next_route() -> None:
    register_converter("t_date2", DateConverter())
    day, other = ws("/d/{d:t_date2}", name="day"), ws("/d/{raw}", name="raw")
    router = Router([day, other])
    assert router.match("/d/2024-01-02", "websocket").route is day
    assert router.match("/d/2024-99-02", "websocket").params == {"raw": "2024-99-02"}


def test_trailing_slash_is_exact() -> None:
    router = Router([ws("/rooms", name="rooms"), ws("/lobby/", name="lobby")])
    assert router.match("/rooms", "websocket").found
    assert router.match("/rooms/", "websocket").status is MatchStatus.NOT_FOUND
    assert router.match("/lobby/", "websocket").found
    assert router.match("/lobby", "websocket").status is MatchStatus.NOT_FOUND


def test_match_uses_the_path_as_given() -> None:
    # Callers pass the decoded path without query string; nothing is stripped here.
    router = Router([ws("/rooms/{room}")])
    assert router.match("/rooms/caf\u00e9", "websocket").params == {"room": "caf\u00e9"}
    assert router.match("/rooms/lobby?x=1", "websocket").params == {"room": "lobby?x=1"}
    assert router.match("/rooms/a%2Fb", "websocket").params == {"room": "a%2Fb"}
    assert router.match("/rooms/a/b", "websocket").status is MatchStatus.NOT_FOUND


def test_match_rejects_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="kind must be"):
        Router().match("/", "sse")  # type: ignore[arg-type]


def test_match_params_are_fresh_dicts() -> None:
    router = Router([ws("/a")])
    first = router.match("/a", "websocket")
    first.params["x"] = 1
    assert router.match("/a", "websocket").params == {}
    missing = router.match("/b", "websocket")
    missing.params["x"] = 1
    assert router.match("/b", "websocket").params == {}
