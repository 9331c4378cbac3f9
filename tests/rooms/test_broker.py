"""The values that cross the broker seam."""

from __future__ import annotations

import os

import pydantic
import pytest

from wsframework.rooms.broker import HistoryPolicy, Member, Position, make_node_id, serialise


def test_position_and_member_serialise_to_what_clients_keep() -> None:
    assert Position("e1", 7).to_json() == {"epoch": "e1", "offset": 7}
    member = Member("c1", "host:1:ab", {"user": "ann"})
    assert member.to_json() == {"connection_id": "c1", "node": "host:1:ab", "info": {"user": "ann"}}


@pytest.mark.parametrize(("size", "ttl", "words"), [(0, 1.0, "size"), (1, 0.0, "ttl")])
def test_history_policy_refuses_empty_windows(size: int, ttl: float, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        HistoryPolicy(size=size, ttl=ttl)


def test_node_ids_name_the_process_and_differ_per_call() -> None:
    first, second = make_node_id(), make_node_id()
    assert first != second
    assert first.split(":")[1] == str(os.getpid())


def test_publications_serialise_models_dicts_and_refuses_others() -> None:
    class Chat(pydantic.BaseModel):
        text: str

    assert serialise(Chat(text="hi")) == '{"text":"hi"}'
    assert serialise({"a": [1]}) == '{"a":[1]}'
    assert serialise(bytearray(b"x")) == b"x"
    with pytest.raises(TypeError, match="a room publishes str, bytes"):
        serialise(3)
