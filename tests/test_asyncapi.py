"""wsframework.asyncapi: ``app.asyncapi()`` documents, checked against the official AsyncAPI
3.0.0 JSON Schema (npm's ``@asyncapi/specs``, see tests/asyncapi_helpers.py), and served at an
opt-in HTTP route."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

import tests.asyncapi_helpers as helpers
from apps.chat.app import create_app as create_chat_app
from apps.echo.app import app as echo_app
from apps.rpc.app import app as rpc_app
from tests.asyncapi_helpers import asyncapi_errors, dangling_refs
from wsframework import App, WebSocketRequest
from wsframework.asyncapi import asyncapi_document
from wsframework.cli.asyncapi import document_text
from wsframework.rooms import HistoryPolicy, RoomOptions
from wsframework.testing import TestClient

DOCS = Path(__file__).parent.parent / "docs" / "asyncapi"


def valid(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` after checking it against the official schema and its own ``$ref``s."""
    assert asyncapi_errors(document) == []
    assert dangling_refs(document) == []
    json.dumps(document)  # JSON-able
    return document


async def handler(request: WebSocketRequest) -> None:
    await request.accept()


def refs(items: list[dict[str, str]]) -> list[str]:
    return [item["$ref"] for item in items]


class Subscribe(BaseModel):
    """Follow a topic."""

    type: Literal["subscribe"]
    topic: str


class Publish(BaseModel):
    type: Literal["publish"]
    topic: str
    data: str


class Point(BaseModel):
    x: int
    y: int


class Shape(BaseModel):
    """A shape sent to clients."""

    points: list[Point]


Command = Annotated[Subscribe | Publish, Field(discriminator="type")]


# --- the example apps -----------------------------------------------------------------------------


def test_an_untyped_route_has_text_and_binary_messages_without_schema() -> None:
    document = valid(echo_app.asyncapi())
    assert document["asyncapi"] == "3.0.0"
    assert document["info"] == {"title": "wsframework app", "version": "0.1.0"}
    assert list(document["channels"]) == ["echo"]  # /health is plain HTTP: not a channel
    channel = document["channels"]["echo"]
    assert channel["address"] == "/"
    assert channel["bindings"] == {"ws": {"method": "GET", "bindingVersion": "0.1.0"}}
    operations = document["operations"]
    assert {key: op["action"] for key, op in operations.items()} == {
        "echo.receive": "receive",
        "echo.send": "send",
    }
    for operation in operations.values():
        assert refs(operation["messages"]) == [
            "#/channels/echo/messages/raw-text",
            "#/channels/echo/messages/raw-binary",
        ]
        assert "no `" in operation["description"]
    messages = document["components"]["messages"]
    assert set(messages) == {"raw-text", "raw-binary"}
    assert "payload" not in messages["raw-text"]
    assert messages["raw-binary"]["contentType"] == "application/octet-stream"
    assert "not described" in messages["raw-text"]["summary"]
    assert "schemas" not in document["components"]


def test_a_discriminated_union_is_one_message_per_model() -> None:
    document = valid(rpc_app.asyncapi())
    channel = document["channels"]["rpc"]
    assert channel["summary"].startswith("Remote calls")
    assert "repeats" in channel["description"]
    receive, send = document["operations"]["rpc.receive"], document["operations"]["rpc.send"]
    assert receive["action"] == "receive"  # what the app receives from clients: the calls
    assert refs(receive["messages"]) == [
        "#/channels/rpc/messages/Add",
        "#/channels/rpc/messages/Echo",
    ]
    assert "one of `Add`, `Echo`; its `type` tells which." in receive["description"]
    assert "answered with the `invalid-message` reply" in receive["description"]
    assert send["action"] == "send"
    assert refs(send["messages"]) == [
        "#/channels/rpc/messages/Result",
        "#/channels/rpc/messages/invalid-message",
    ]
    components = document["components"]
    assert sorted(components["schemas"]) == ["Add", "Echo", "Result"]
    assert components["schemas"]["Add"]["properties"]["type"]["const"] == "add"
    assert components["messages"]["Add"] == {
        "name": "Add",
        "title": "Add",
        "contentType": "application/json",
        "payload": {"$ref": "#/components/schemas/Add"},
    }
    error = components["messages"]["invalid-message"]["payload"]
    assert error["properties"]["error"] == {"const": "invalid_message"}


def test_nested_models_are_lifted_into_components_and_rooms_are_noted() -> None:
    document = valid(create_chat_app().asyncapi())
    schemas = document["components"]["schemas"]
    assert {"Say", "Welcome", "MemberInfo", "PositionInfo"} <= set(schemas)
    members = schemas["Welcome"]["properties"]["members"]
    assert members["items"] == {"$ref": "#/components/schemas/MemberInfo"}
    assert "$defs" not in json.dumps(document)
    assert document["components"]["messages"]["Welcome"]["summary"].startswith("Server to client")
    channel = document["channels"]["chat"]
    assert channel["address"] == "/chat/{room}"
    assert set(channel["parameters"]) == {"room"}
    (rooms,) = document["x-wsframework-rooms"]
    assert rooms == {
        "pattern": "*",
        "history": {"size": 100, "ttl": 600},
        "queueSize": 256,
        "queueBytes": 1 << 20,
        "overflow": "close",
        "overflowCode": 1013,
        "encode": "apps.chat.app.encode",
        "announce": "apps.chat.app.announce",
    }
    description = document["info"]["description"]
    assert "which rooms a connection joins is up to its handler" in description
    assert "keeps the last 100 publications for 600 s" in description
    assert "encoded by `apps.chat.app.encode`" in description


@pytest.mark.parametrize(
    ("name", "make"),
    [("chat", create_chat_app), ("rpc", lambda: rpc_app)],
)
def test_the_documents_in_the_docs_are_up_to_date(name: str, make: Callable[[], App]) -> None:
    server = {"chat": "ws://127.0.0.1:8000", "rpc": "ws://127.0.0.1:8001"}[name]
    title = f"wsframework {name} example"
    expected = document_text(valid(make().asyncapi(title=title, servers=[server])))
    path = DOCS / f"{name}.json"
    module = "apps.chat.app:app" if name == "chat" else "apps.rpc.app:app"
    assert path.read_text(encoding="utf-8") == expected, (
        f"docs/asyncapi/{name}.json is out of date: regenerate it with `wsframework asyncapi "
        f"{module} --title '{title}' --server {server} --output docs/asyncapi/{name}.json`"
    )


# --- routes, parameters, subprotocols, docstrings ------------------------------------------------


def test_path_parameters_become_the_address_and_its_parameters() -> None:
    app = App()
    app.websocket("/rooms/{room}/{user_id:int}/{rest:path}", name="member")(handler)
    channel = valid(app.asyncapi())["channels"]["member"]
    assert channel["address"] == "/rooms/{room}/{user_id}/{rest}"
    parameters = channel["parameters"]
    assert list(parameters) == ["room", "user_id", "rest"]
    assert parameters["user_id"]["description"].startswith(
        "Path parameter, converter `int` (matches `[0-9]+`). `int`: one or more ASCII digits"
    )
    assert "converter `str`" in parameters["room"]["description"]
    assert "converter `path`" in parameters["rest"]["description"]


def test_subprotocols_are_in_the_binding_the_description_and_an_extension() -> None:
    app = App()
    app.websocket("/a", subprotocols=["chat.v2", "chat.v1"], subprotocol_required=True)(handler)
    app.websocket("/b", name="b", subprotocols=["v1"])(handler)
    channels = valid(app.asyncapi())["channels"]
    a, b = channels["handler"], channels["b"]
    headers = a["bindings"]["ws"]["headers"]
    assert headers["required"] == ["Sec-WebSocket-Protocol"]
    assert "chat.v2, chat.v1" in headers["properties"]["Sec-WebSocket-Protocol"]["description"]
    assert a["x-wsframework-subprotocols"] == {
        "supported": ["chat.v2", "chat.v1"],
        "required": True,
    }
    assert a["description"] == (
        "Subprotocols, most preferred first: `chat.v2`, `chat.v1`. A client that offers none "
        "of them is refused with HTTP 400."
    )
    assert "required" not in b["bindings"]["ws"]["headers"]
    assert b["x-wsframework-subprotocols"] == {"supported": ["v1"], "required": False}


def test_the_name_and_docstring_title_and_describe_the_channel() -> None:
    app = App()

    @app.websocket("/feed", name="news feed")
    async def feed(request: WebSocketRequest) -> None:
        """Live headlines.

        One message per headline, ``as it lands``.
        """

    document = valid(app.asyncapi())
    channel = document["channels"]["news_feed"]  # a valid key made of the name
    assert (channel["title"], channel["summary"]) == ("news feed", "Live headlines.")
    assert channel["description"] == "One message per headline, `as it lands`."
    assert document["operations"]["news_feed.send"]["title"] == "news feed (send)"


# --- message types -------------------------------------------------------------------------------


def test_a_type_that_is_not_a_model_is_one_message_with_its_schema() -> None:
    app = App()
    app.websocket("/shapes", receive=Point | None, send=list[Shape], on_invalid="ignore")(handler)
    document = valid(app.asyncapi())
    messages = document["components"]["messages"]
    assert messages["handler-send"]["payload"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Shape"},
    }
    optional = messages["handler-receive"]["payload"]["anyOf"]
    assert optional == [{"$ref": "#/components/schemas/Point"}, {"type": "null"}]
    assert sorted(document["components"]["schemas"]) == ["Point", "Shape"]
    receive = document["operations"]["handler.receive"]
    assert receive["description"] == "A message that is not JSON or does not validate is dropped."


def test_a_model_shared_by_routes_and_directions_is_one_message() -> None:
    app = App()
    app.websocket("/a", name="a", receive=Command, send=Command)(handler)
    app.websocket("/b", name="b", receive=Subscribe)(handler)
    document = valid(app.asyncapi())
    assert sorted(document["components"]["messages"]) == [
        "Publish",
        "Subscribe",
        "raw-binary",
        "raw-text",
    ]
    assert document["components"]["messages"]["Subscribe"]["summary"] == "Follow a topic."
    a = document["operations"]
    assert refs(a["a.receive"]["messages"]) == refs(a["a.send"]["messages"])
    assert refs(a["b.receive"]["messages"]) == ["#/channels/b/messages/Subscribe"]
    # b declares no send= type: what it sends is raw
    assert refs(a["b.send"]["messages"])[0] == "#/channels/b/messages/raw-text"


def test_a_union_without_discriminator_is_one_message_per_model_too() -> None:
    app = App()
    app.websocket("/c", receive=Subscribe | Publish)(handler)
    receive = valid(app.asyncapi())["operations"]["handler.receive"]
    assert refs(receive["messages"]) == [
        "#/channels/handler/messages/Subscribe",
        "#/channels/handler/messages/Publish",
    ]
    assert receive["description"].startswith("Each message is one of `Subscribe`, `Publish`. ")


def test_each_document_is_a_fresh_object() -> None:
    first = echo_app.asyncapi()
    first["components"]["messages"]["raw-text"]["summary"] = "changed"
    assert echo_app.asyncapi()["components"]["messages"]["raw-text"]["summary"] != "changed"


def test_models_with_the_same_name_are_told_apart() -> None:
    def scoped() -> type[BaseModel]:
        class Publish(BaseModel):
            loud: bool

        return Publish

    app = App()
    app.websocket("/a", name="a", receive=Publish)(handler)
    app.websocket("/b", name="b", receive=scoped())(handler)
    document = valid(app.asyncapi())
    names = [
        ref.rpartition("/")[2]
        for op in document["operations"].values()
        for ref in refs(op["messages"])
    ]
    typed = [n for n in names if not n.startswith("raw-")]
    assert len(typed) == len(set(typed)) == 2


def test_a_type_without_json_schema_is_named_with_its_route() -> None:
    app = App()
    app.websocket("/call", name="call", receive=Callable[[], None])(handler)
    with pytest.raises(TypeError, match=r"^route 'call': its receive type has no JSON Schema: "):
        app.asyncapi()


def test_a_contract_without_types_keeps_raw_messages() -> None:
    app = App()
    app.websocket("/a", on_invalid="reply")(handler)
    document = valid(app.asyncapi())
    assert "invalid-message" not in document["components"]["messages"]  # nothing to validate


# --- info, servers, rooms ------------------------------------------------------------------------


def test_servers_from_a_url_a_list_or_names() -> None:
    app = App(root_path="/api")
    app.websocket("/ws")(handler)
    one = valid(app.asyncapi(servers="wss://chat.example.com", title="Chat", version="2.1.0"))
    assert one["info"] == {"title": "Chat", "version": "2.1.0"}
    assert one["servers"] == {
        "default": {"host": "chat.example.com", "protocol": "wss", "pathname": "/api"}
    }
    assert one["channels"]["handler"]["address"] == "/ws"
    several = valid(app.asyncapi(servers=["ws://127.0.0.1:8000/", "wss://example.com/v2"]))
    assert several["servers"] == {
        "server1": {"host": "127.0.0.1:8000", "protocol": "ws", "pathname": "/api"},
        "server2": {"host": "example.com", "protocol": "wss", "pathname": "/v2"},
    }
    named = valid(app.asyncapi(servers={"prod env": "wss://example.com"}, description="Hi."))
    assert list(named["servers"]) == ["prod_env"]
    assert named["info"]["description"] == "Hi."
    # Without servers, the mount prefix starts the address.
    assert valid(app.asyncapi())["channels"]["handler"]["address"] == "/api/ws"


@pytest.mark.parametrize(
    ("servers", "message"),
    [
        ("http://example.com", "must be a ws:// or wss:// URL with a host"),
        ("ws://", "must be a ws:// or wss:// URL with a host"),
        ("ws://example.com/?a=1", "must not have a query or fragment"),
        ({"x": 8000}, "server 'x' must be a ws:// or wss:// URL, not 8000"),
    ],
)
def test_a_bad_server_url_is_refused(servers: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        App().asyncapi(servers=servers)


def test_only_configured_rooms_are_listed() -> None:
    app = App()
    assert "x-wsframework-rooms" not in valid(app.asyncapi())
    app.rooms.configure("news:*", history=HistoryPolicy(size=10, ttl=1.5), overflow="drop_oldest")
    app.rooms.configure("quiet", RoomOptions())
    document = valid(app.asyncapi(description="An app."))
    assert [row["pattern"] for row in document["x-wsframework-rooms"]] == ["news:*", "quiet"]
    description = document["info"]["description"]
    assert description.startswith("An app.\n\nRooms")
    assert "- `news:*`: keeps the last 10 publications for 1.5 s" in description
    assert "- `quiet`: no history (nothing to recover after a reconnect)" in description
    assert asyncapi_document([], rooms=None)["channels"] == {}


# --- serving it ----------------------------------------------------------------------------------


async def test_the_document_is_served_only_when_asked() -> None:
    app = App()
    app.websocket("/rpc", receive=Subscribe)(handler)
    async with TestClient(app) as client:
        assert (await client.get("/asyncapi.json")).status_code == 404
    app.add_asyncapi_route(title="Served", servers="ws://127.0.0.1:8000")
    app.websocket("/later", name="later")(handler)  # added after the route: still described
    async with TestClient(app) as client:
        response = await client.get("/asyncapi.json")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        document = valid(response.json())
        assert document == app.asyncapi(title="Served", servers="ws://127.0.0.1:8000")
        assert list(document["channels"]) == ["handler", "later"]
        assert (await client.get("/asyncapi.json")).json() == document


def test_the_route_checks_its_options_when_added() -> None:
    app = App()
    with pytest.raises(ValueError, match="ws:// or wss://"):
        app.add_asyncapi_route("/spec.json", servers="tcp://x")
    with pytest.raises(TypeError, match="unexpected keyword argument 'tittle'"):
        app.add_asyncapi_route("/spec.json", tittle="x")
    app.add_asyncapi_route("/spec.json", name="spec")
    assert app.url_path_for("spec") == "/spec.json"


# --- the validator bites -------------------------------------------------------------------------


BREAKAGES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "an AsyncAPI 2 version": lambda d: d.update(asyncapi="2.6.0"),
    "no info.version": lambda d: d["info"].pop("version"),
    "an AsyncAPI 2 action": lambda d: d["operations"]["rpc.receive"].update(action="publish"),
    "an operation without channel": lambda d: d["operations"]["rpc.send"].pop("channel"),
    "a parameter with a schema (AsyncAPI 2)": lambda d: d["channels"]["rpc"].update(
        parameters={"id": {"schema": {"type": "string"}}}
    ),
    "an HTTP method WebSocket bindings lack": lambda d: d["channels"]["rpc"]["bindings"][
        "ws"
    ].update(method="PUT"),
    "a payload that is no schema": lambda d: d["components"]["messages"]["Add"].update(payload=5),
    "a server without protocol": lambda d: d["servers"]["default"].pop("protocol"),
    "an unknown channel field": lambda d: d["channels"]["rpc"].update(publish={}),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_broken_document_fails_validation(breakage: str) -> None:
    document = copy.deepcopy(rpc_app.asyncapi(servers="ws://127.0.0.1:8001"))
    assert asyncapi_errors(document) == []
    BREAKAGES[breakage](document)
    assert asyncapi_errors(document) != []


def test_a_dangling_ref_is_found() -> None:
    document = copy.deepcopy(rpc_app.asyncapi())
    del document["components"]["schemas"]["Echo"]
    assert dangling_refs(document) == ["#/components/schemas/Echo"]
    assert dangling_refs({"a": [{"$ref": "#/a/0"}, {"$ref": "#/b~1c"}], "b/c": 1}) == []


def test_a_missing_schema_fails_with_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(helpers, "SCHEMA_FILE", tmp_path / "3.0.0.json")
    with pytest.raises(pytest.fail.Exception, match="npm ci --prefix tests/asyncapi_schema"):
        asyncapi_errors({})
