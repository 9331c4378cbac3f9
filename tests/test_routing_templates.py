"""Path templates and the built-in converters, and definition-time template errors
(wsframework.routing, no I/O)."""

from __future__ import annotations

import uuid

import pytest

from wsframework.routing import Route, RouteDefinitionError

from .routing_helpers import chat, ws

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


def test_a_template_with_a_lone_surrogate_is_refused_when_defined() -> None:
    """Found by fuzzing (fuzz/routing_targets.py): url_path_for raised UnicodeEncodeError."""
    with pytest.raises(RouteDefinitionError, match="lone surrogate"):
        Route("/caf\udce9/{x}", chat)
