"""Path templates, converters, the router and URL building (wsframework.routing, no I/O)."""

from __future__ import annotations

import ast
import math
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


@pytest.fixture(autouse=True)
def _restore_converter_registry() -> Iterator[None]:
    """Converters registered by a test are gone after it."""
    saved = dict(routing._converters)
    yield
    routing._converters.clear()
    routing._converters.update(saved)


async def chat() -> None: ...


async def lobby() -> None: ...


def ws(template: str, name: str = "r", **kwargs: Any) -> Route:
    return Route(template, chat, name=name, **kwargs)


def http(template: str, name: str = "h", methods: Any = None, **kwargs: Any) -> Route:
    return Route(template, chat, name=name, kind="http", methods=methods, **kwargs)


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


# --- templates and the built-in converters --------------------------------------------------


def test_issue_example() -> None:
    route = ws("/rooms/{room}/{user_id:int}")
    assert route.match("/rooms/lobby/7") == {"room": "lobby", "user_id": 7}
    assert route.match("/rooms/lobby/x") is None
    assert route.shape == "/rooms/{str}/{int}"
    assert list(route.param_converters) == ["room", "user_id"]


def test_static_template() -> None:
    route = ws("/echo")
    assert route.match("/echo") == {}
    assert route.match("/echo/") is None
    assert route.match("/ech") is None
    assert route.match("/echoes") is None
    assert route.match("") is None


def test_root_template() -> None:
    route = ws("/")
    assert route.match("/") == {}
    assert route.match("") is None
    assert route.match("//") is None


def test_static_parts_are_literal_not_regex() -> None:
    route = ws("/v1.0/a+b/(x)/[y]/$")
    assert route.match("/v1.0/a+b/(x)/[y]/$") == {}
    assert route.match("/v1x0/a+b/(x)/[y]/$") is None
    assert route.match("/v1.0/aab/(x)/[y]/$") is None


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/u/lobby", "lobby"), ("/u/caf\u00e9", "caf\u00e9"), ("/u/a b", "a b"), ("/u/%", "%")],
)
def test_str_matches_one_segment(path: str, expected: str) -> None:
    assert ws("/u/{name}").match(path) == {"name": expected}
    assert ws("/u/{name:str}").match(path) == {"name": expected}


@pytest.mark.parametrize("path", ["/u/", "/u/a/b", "/u", "/u/a/"])
def test_str_rejects_empty_and_slashes(path: str) -> None:
    assert ws("/u/{name}").match(path) is None


def test_str_matches_newline() -> None:
    # The path is percent-decoded, so %0A arrives as a newline; it is still one segment.
    assert ws("/u/{name}").match("/u/a\nb") == {"name": "a\nb"}
    assert ws("/u/{name}").match("/u/a\n") == {"name": "a\n"}


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("7", 7), ("007", 7), ("12345678901234567890", 12345678901234567890)],
)
def test_int_matches(text: str, value: int) -> None:
    params = ws("/n/{n:int}").match(f"/n/{text}")
    assert params == {"n": value}
    assert params is not None and type(params["n"]) is int


@pytest.mark.parametrize(
    "text", ["-1", "+1", "1.5", "", "1e3", "0x10", "abc", " 1", "1 ", "\u0661"]
)
def test_int_rejects(text: str) -> None:
    assert ws("/n/{n:int}").match(f"/n/{text}") is None


@pytest.mark.parametrize(
    ("text", "value"), [("1", 1.0), ("1.5", 1.5), ("0.25", 0.25), ("007.50", 7.5)]
)
def test_float_matches(text: str, value: float) -> None:
    params = ws("/f/{x:float}").match(f"/f/{text}")
    assert params == {"x": value}
    assert params is not None and type(params["x"]) is float


@pytest.mark.parametrize(
    "text", ["-1.5", "+1", ".5", "1.", "1e5", "nan", "inf", "1.2.3", "", "1,5"]
)
def test_float_rejects(text: str) -> None:
    assert ws("/f/{x:float}").match(f"/f/{text}") is None


def test_uuid_matches_and_parses() -> None:
    value = uuid.UUID("12345678-1234-5678-1234-567812345678")
    route = ws("/s/{sid:uuid}")
    assert route.match(f"/s/{value}") == {"sid": value}
    upper = route.match(f"/s/{str(value).upper()}")
    assert upper == {"sid": value}
    assert upper is not None and isinstance(upper["sid"], uuid.UUID)


@pytest.mark.parametrize(
    "text",
    [
        "12345678123456781234567812345678",  # no dashes
        "{12345678-1234-5678-1234-567812345678}",
        "urn:uuid:12345678-1234-5678-1234-567812345678",
        "12345678-1234-5678-1234-56781234567",  # one digit short
        "12345678-1234-5678-1234-5678123456789",
        "g2345678-1234-5678-1234-567812345678",
        "",
    ],
)
def test_uuid_rejects(text: str) -> None:
    assert ws("/s/{sid:uuid}").match(f"/s/{text}") is None


@pytest.mark.parametrize(
    ("path", "rest"),
    [
        ("/files/a", "a"),
        ("/files/a/b/c.txt", "a/b/c.txt"),
        ("/files/", ""),
        ("/files/a/", "a/"),
        ("/files/x\ny", "x\ny"),
    ],
)
def test_path_matches_the_rest(path: str, rest: str) -> None:
    assert ws("/files/{rest:path}").match(path) == {"rest": rest}


def test_path_requires_the_static_prefix() -> None:
    route = ws("/files/{rest:path}")
    assert route.match("/files") is None
    assert route.match("/filesx/a") is None


def test_path_in_the_middle() -> None:
    route = ws("/repo/{name:path}/edit")
    assert route.match("/repo/a/b/edit") == {"name": "a/b"}
    assert route.match("/repo/a/b/view") is None


def test_several_params_in_one_segment() -> None:
    route = ws("/files/{stem}.{ext}")
    assert route.match("/files/report.pdf") == {"stem": "report", "ext": "pdf"}
    assert route.match("/files/report") is None


# --- definition-time errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("rooms/{room}", "must start with '/'"),
        ("", "must start with '/'"),
        ("/rooms/{room", "unbalanced '{' at position 7"),
        ("/rooms/room}", "unbalanced '}' at position 11"),
        ("/rooms/}{room}", "unbalanced '}' at position 7"),
        ("/rooms/{{room}}", "unbalanced '{' at position 7"),
        ("/rooms/{a{b}", "unbalanced '{' at position 7"),
        ("/rooms/{room}}", "unbalanced '}' at position 13"),
        ("/rooms/{room:nope}", "unknown converter 'nope'"),
        ("/rooms/{room:}", "unknown converter ''"),
        ("/rooms/{room:Int}", "unknown converter 'Int'"),
        ("/rooms/{room:int:x}", "unknown converter 'int:x'"),
        ("/a/{x}/b/{x}", "duplicate parameter name 'x'"),
        ("/a/{x}/b/{x:int}", "duplicate parameter name 'x'"),
        ("/a/{}", "parameter name '' in {} is not a Python identifier"),
        ("/a/{:int}", "parameter name ''"),
        ("/a/{1x}", "parameter name '1x'"),
        ("/a/{user-id}", "parameter name 'user-id'"),
        ("/a/{ x }", "parameter name ' x '"),
        ("/a/{x y}", "parameter name 'x y'"),
        ("/a?b=1", "'?' is not allowed"),
        ("/a#top", "'#' is not allowed"),
    ],
)
def test_malformed_templates(template: str, message: str) -> None:
    with pytest.raises(RouteDefinitionError) as info:
        ws(template)
    assert message in str(info.value)
    assert repr(template) in str(info.value)


def test_unknown_converter_lists_the_known_ones() -> None:
    with pytest.raises(
        RouteDefinitionError, match=r"known converters: .*float, int, path, str, uuid"
    ):
        ws("/a/{x:integer}")


def test_template_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="must be a str"):
        Route(b"/a", chat)  # type: ignore[arg-type]


def test_non_ascii_parameter_name() -> None:
    assert ws("/a/{caf\u00e9}").match("/a/x") == {"caf\u00e9": "x"}


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


# --- url_path / url_path_for ----------------------------------------------------------------


def test_url_path_for_issue_example() -> None:
    router = Router([Route("/rooms/{room}/{user_id:int}", chat)])
    assert router.url_path_for("chat", room="lobby", user_id=7) == "/rooms/lobby/7"


def test_url_path_for_static_route() -> None:
    router = Router([ws("/", name="home")])
    assert router.url_path_for("home") == "/"


def test_url_path_for_unknown_name() -> None:
    router = Router([ws("/a", name="a"), ws("/b", name="b")])
    with pytest.raises(NoMatchFound, match="no route named 'c'; route names: 'a', 'b'"):
        router.url_path_for("c")
    with pytest.raises(NoMatchFound, match="route names: none"):
        Router().url_path_for("c")


def test_url_path_for_missing_and_extra_params() -> None:
    router = Router([ws("/rooms/{room}/{user_id:int}", name="room")])
    with pytest.raises(NoMatchFound) as info:
        router.url_path_for("room", room="lobby")
    assert "missing 'user_id'" in str(info.value)
    assert "'room'" in str(info.value) and "[room, user_id]" in str(info.value)
    with pytest.raises(NoMatchFound, match="unexpected 'extra'"):
        router.url_path_for("room", room="lobby", user_id=1, extra=2)
    with pytest.raises(NoMatchFound, match="missing 'room', 'user_id'; unexpected 'x'"):
        router.url_path_for("room", x=1)


def test_a_parameter_may_be_called_name_or_self() -> None:
    route = ws("/{name}/{self}", name="odd")
    router = Router([route])
    assert router.url_path_for("odd", name="a", self="b") == "/a/b"
    assert route.url_path(name="a", self="b") == "/a/b"


@pytest.mark.parametrize(
    ("template", "params", "message"),
    [
        ("/u/{name}", {"name": "a/b"}, "renders as 'a/b'"),
        ("/u/{name}", {"name": ""}, "renders as ''"),
        ("/n/{n:int}", {"n": -1}, "negative integer -1"),
        ("/n/{n:int}", {"n": "x"}, "invalid value 'x'"),
        ("/n/{n:int}", {"n": None}, "invalid value None"),
        ("/f/{x:float}", {"x": -0.5}, "-0.5 cannot be in a float"),
        ("/f/{x:float}", {"x": math.nan}, "nan cannot be in a float"),
        ("/f/{x:float}", {"x": math.inf}, "inf cannot be in a float"),
        ("/s/{sid:uuid}", {"sid": "not-a-uuid"}, "invalid value 'not-a-uuid'"),
    ],
)
def test_url_path_invalid_values(template: str, params: dict[str, Any], message: str) -> None:
    router = Router([ws(template, name="r")])
    with pytest.raises(NoMatchFound) as info:
        router.url_path_for("r", **params)
    assert message in str(info.value)
    assert "'r'" in str(info.value)


def test_url_path_converts_values() -> None:
    value = uuid.UUID("12345678-1234-5678-1234-567812345678")
    route = ws("/{n:int}/{x:float}/{sid:uuid}/{rest:path}")
    assert route.url_path(n="007", x=2, sid=value, rest="a/b") == f"/7/2.0/{value}/a/b"
    assert route.url_path(n=7, x=0.1, sid=str(value).upper(), rest="") == f"/7/0.1/{value}/"


def test_float_to_string_never_uses_an_exponent() -> None:
    route = ws("/f/{x:float}")
    for value in (1e-30, 1e22, 123456.789, 0.0, 5e-324):
        path = route.url_path(x=value)
        assert "e" not in path.lower()
        assert route.match(path) == {"x": value}


def test_url_path_percent_quotes() -> None:
    route = ws("/rooms/{room}/files/{rest:path}")
    assert route.url_path(room="caf\u00e9 au lait", rest="a b/c%d") == (
        "/rooms/caf%C3%A9%20au%20lait/files/a%20b/c%25d"
    )
    assert route.url_path(room="a:b@c+d;e=f", rest="x?y#z") == "/rooms/a:b@c+d;e=f/files/x%3Fy%23z"


def test_url_path_quotes_static_parts_too() -> None:
    route = ws("/caf\u00e9 bar/{x}")
    path = route.url_path(x="y")
    assert path == "/caf%C3%A9%20bar/y"
    assert route.match(unquote(path)) == {"x": "y"}


segment_text = st.text(min_size=1).filter(lambda text: "/" not in text)


@given(
    room=segment_text,
    user_id=st.integers(min_value=0),
    ratio=st.floats(min_value=0, allow_nan=False, allow_infinity=False),
    sid=st.uuids(),
    rest=st.text(),
)
def test_round_trip(room: str, user_id: int, ratio: float, sid: uuid.UUID, rest: str) -> None:
    router = Router([ws("/r/{room}/{user_id:int}/{ratio:float}/{sid:uuid}/{rest:path}", name="r")])
    params = {"room": room, "user_id": user_id, "ratio": ratio, "sid": sid, "rest": rest}
    path = router.url_path_for("r", **params)
    assert path.isascii() and "?" not in path and "#" not in path and " " not in path
    match = router.match(unquote(path), "websocket")
    assert match.found
    assert match.params == params
