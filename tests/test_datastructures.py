"""Headers, QueryParams, State and the request properties built on them."""

from __future__ import annotations

import pytest

from wsframework.datastructures import Headers, QueryParams, State


def test_headers_are_a_list_and_a_case_insensitive_mapping() -> None:
    headers = Headers([(b"host", b"example.com"), (b"cookie", b"a=1"), (b"cookie", b"b=2")])
    assert headers[0] == (b"host", b"example.com")
    assert (b"host", b"example.com") in headers
    assert headers["HOST"] == "example.com"
    assert headers.get("Cookie") == "a=1"
    assert headers.getlist("cookie") == ["a=1", "b=2"]
    assert "Host" in headers
    assert "origin" not in headers
    assert headers.get("origin", "none") == "none"
    with pytest.raises(KeyError):
        headers["origin"]
    assert list(headers)[1] == (b"cookie", b"a=1")


def test_query_params_keep_repeated_keys() -> None:
    params = QueryParams("a=1&b=&a=2&c=x%20y")
    assert params["a"] == "1"
    assert params.getlist("a") == ["1", "2"]
    assert params["b"] == ""
    assert params["c"] == "x y"
    assert params.get("missing") is None
    assert "a" in params and "z" not in params
    assert params.keys() == ["a", "b", "c"]
    assert list(params) == ["a", "b", "c"]
    assert len(params) == 4
    assert params == QueryParams([("a", "1"), ("b", ""), ("a", "2"), ("c", "x y")])
    assert "QueryParams" in repr(params)
    with pytest.raises(KeyError):
        params["z"]


def test_state_is_an_attribute_bag() -> None:
    state = State(db="x")
    state.user = "alice"
    assert (state.db, state.user) == ("x", "alice")
    assert "alice" in repr(state)


def test_headers_decode_latin1_and_slice_as_a_list() -> None:
    headers = Headers([(b"X-Name", "café".encode("latin-1")), (b"x-name", b"2"), (b"a", b"b")])
    assert headers["x-name"] == "café"
    assert headers.getlist("X-NAME") == ["café", "2"]
    assert headers.getlist("missing") == []
    assert headers[1:] == [(b"x-name", b"2"), (b"a", b"b")]
    assert isinstance(headers, list) and len(headers) == 3
    assert 3 not in headers  # neither a header name nor a pair


def test_query_params_decode_plus_and_blank_values() -> None:
    params = QueryParams("q=a+b&flag&empty=&q=%2B")
    assert params.getlist("q") == ["a b", "+"]
    assert params["flag"] == params["empty"] == ""
    assert params.items() == [("q", "a b"), ("flag", ""), ("empty", ""), ("q", "+")]
    assert QueryParams() == QueryParams("")
    assert len(QueryParams()) == 0
    assert (params == {"q": "a b"}) is False
    items = params.items()
    items.clear()  # a copy: the params are unchanged
    assert len(params) == 4


def test_state_names_a_missing_attribute() -> None:
    state = State()
    with pytest.raises(AttributeError) as info:
        _ = state.user
    assert str(info.value) == "state has no attribute 'user'"
    assert getattr(state, "user", None) is None
    assert not hasattr(state, "user")
    state.user = None
    assert hasattr(state, "user")
