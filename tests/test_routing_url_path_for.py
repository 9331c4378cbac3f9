"""URL building: Route.url_path and Router.url_path_for (wsframework.routing, no I/O)."""

from __future__ import annotations

import math
import uuid
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsframework.routing import NoMatchFound, Route, Router

from .routing_helpers import chat, ws

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


# --- found by fuzzing (fuzz/routing_targets.py) ---------------------------------------------


def test_url_path_for_an_int_too_long_to_print_is_no_match_found() -> None:
    """The error message's repr() of a 5,000-digit int raised ValueError itself."""
    router = Router([ws("/n/{n:int}", name="r"), ws("/f/{f:float}", name="f")])
    with pytest.raises(NoMatchFound, match="too large to print"):
        router.url_path_for("r", n=10**5000)
    with pytest.raises(NoMatchFound, match="too large to print"):
        router.url_path_for("f", f=10**5000)


def test_url_path_for_a_value_with_a_lone_surrogate_is_no_match_found() -> None:
    """quote() raised UnicodeEncodeError."""
    router = Router([ws("/r/{room}", name="r")])
    with pytest.raises(NoMatchFound, match="lone surrogate"):
        router.url_path_for("r", room="a\ud800b")


@pytest.mark.parametrize(
    ("template", "params"),
    [
        pytest.param("/{a}{b}", {"a": "x", "b": "yz"}, id="side-by-side"),
        pytest.param("/{a}-{b}", {"a": "x", "b": "y-z"}, id="separator-in-the-value"),
        pytest.param("/{a:float}{b:float}", {"a": 1.0, "b": 25.0}, id="floats-side-by-side"),
        pytest.param("/{a}{p:path}/x", {"a": "a", "p": "b/x/c"}, id="path-then-static"),
    ],
)
def test_url_path_for_refuses_values_that_would_match_back_differently(
    template: str, params: dict[str, Any]
) -> None:
    """The path it built matched the route with other values than those it was built from."""
    route = ws(template, name="r")
    with pytest.raises(NoMatchFound, match="splits differently"):
        route.url_path(**params)


def test_url_path_for_an_unambiguous_split_of_adjacent_parameters_is_built() -> None:
    route = ws("/{a}-{b}", name="r")
    path = route.url_path(a="x-y", b="z")  # the greedy first parameter takes "x-y": same values
    assert route.match(unquote(path)) == {"a": "x-y", "b": "z"}
