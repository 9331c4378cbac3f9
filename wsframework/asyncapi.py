"""AsyncAPI 3.0.0 documents generated from an App's WebSocket routes (``app.asyncapi()``).

What maps to what (docs/asyncapi.md has the whole story):

* each WebSocket route is a **channel**, keyed by the route's name: its template is the
  channel's ``address`` (``/rooms/{room}/{user_id}``, converters dropped) with one
  ``parameters`` entry per path parameter (the converter and what it matches, in words: an
  AsyncAPI 3 parameter has no schema); the handler's docstring gives the summary (first line)
  and description (the rest); the route's subprotocols are in the description, in the ``ws``
  binding's ``headers`` (``Sec-WebSocket-Protocol``) and in ``x-wsframework-subprotocols``;
* each route has two **operations**, from the application's point of view: ``<name>.receive``
  (``action: receive``, what clients send) and ``<name>.send`` (``action: send``, what the app
  sends);
* a route's ``receive=`` / ``send=`` types become **messages** whose payloads are pydantic's
  JSON Schemas, in ``components.schemas`` (nested models, pydantic's ``$defs``, are lifted there
  too, so every ``$ref`` is ``#/components/schemas/<Model>``); a union of models is one message
  per member (the operation lists them all: each message matches one of them); any
  other type is one message with the type's schema as payload;
* a side without a type gets the ``raw-text`` and ``raw-binary`` messages, which have no
  payload schema; ``on_invalid="reply"`` adds the ``invalid-message`` error reply to the
  ``send`` side;
* a route's frame-type contract (``accepts="text"``, ``"bytes"`` or ``"json"``) narrows its
  ``receive`` side: ``raw-text`` only, ``raw-binary`` only, or the ``raw-json`` message (any
  JSON, as text or UTF-8 bytes) when it has no ``receive=`` type; the channel says so in its
  description and in ``x-wsframework-accepts``, the operation that another type closes the
  connection with 1003;
* rooms configured with ``app.rooms.configure(...)`` are listed in ``info.description`` and in
  ``x-wsframework-rooms``: which rooms a handler joins is decided by its code at run time, so no
  channel is tied to a room.

Nothing here imports pydantic: the schemas come from :mod:`wsframework.typed`, imported only
when a route has a message type.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from .request import WebSocketRoute
from .rooms import RoomOptions

if TYPE_CHECKING:
    from .rooms import Rooms
    from .routing import Route

__all__ = ["ASYNCAPI_VERSION", "Servers", "asyncapi_document"]

#: The AsyncAPI version of the documents generated here.
ASYNCAPI_VERSION = "3.0.0"
#: The version of the WebSockets channel binding used (``bindings.ws``).
WS_BINDING_VERSION = "0.1.0"
#: Where pydantic's ``$ref`` point: the models live in ``components.schemas``.
REF_TEMPLATE = "#/components/schemas/{model}"

#: Where the app is served: one ``ws://`` / ``wss://`` URL, several, or names to URLs.
Servers = str | Sequence[str] | Mapping[str, str]

Action = Literal["receive", "send"]

# The messages of a side without a type, and the error reply of on_invalid="reply". Their names
# have a hyphen, which no Python class name has, so they never collide with a model's.
RAW_TEXT = "raw-text"
RAW_BINARY = "raw-binary"
RAW_JSON = "raw-json"
INVALID_REPLY = "invalid-message"
_BUILTIN_MESSAGES: dict[str, dict[str, Any]] = {
    RAW_TEXT: {
        "name": RAW_TEXT,
        "title": "Text message",
        "summary": "Any text message: its content is not described.",
        "description": "The route declares no message type for this direction, so any text "
        "message goes and nothing here says what it contains.",
        "contentType": "text/plain",
    },
    RAW_BINARY: {
        "name": RAW_BINARY,
        "title": "Binary message",
        "summary": "Any binary message: its content is not described.",
        "description": "The route declares no message type for this direction, so any binary "
        "message goes and nothing here says what it contains.",
        "contentType": "application/octet-stream",
    },
    RAW_JSON: {
        "name": RAW_JSON,
        "title": "JSON message",
        "summary": "Any JSON value, as a text message or a binary one holding UTF-8.",
        "description": 'The route accepts JSON only (`accepts="json"`) and declares no '
        "`receive=` type, so any JSON value goes and nothing here says what it contains.",
        "contentType": "application/json",
    },
    INVALID_REPLY: {
        "name": INVALID_REPLY,
        "title": "Invalid message reply",
        "summary": "The answer to a message that is not JSON or does not validate.",
        "description": 'Sent by a route declared with `on_invalid="reply"` instead of a '
        "result; the connection stays open. `detail` is pydantic's error list.",
        "contentType": "application/json",
        "payload": {
            "type": "object",
            "properties": {
                "type": {"const": "error"},
                "error": {"const": "invalid_message"},
                "detail": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "type": {"type": "string"},
                            "loc": {
                                "type": "array",
                                "items": {"type": ["string", "integer"]},
                            },
                            "msg": {"type": "string"},
                        },
                        "required": ["type", "loc", "msg"],
                    },
                },
            },
            "required": ["type", "error", "detail"],
        },
    },
}

_ON_INVALID = {
    "close": "A message that is not JSON or does not validate closes the connection with "
    "code 1007.",
    "reply": "A message that is not JSON or does not validate is answered with the "
    "`invalid-message` reply; the connection stays open.",
    "ignore": "A message that is not JSON or does not validate is dropped.",
}
# What a route's frame-type contract lets clients send, and what else does.
_ACCEPTS = {
    "text": ("text messages only", [RAW_TEXT], "a binary message"),
    "bytes": ("binary messages only", [RAW_BINARY], "a text message"),
    "json": ("JSON only, as text or as UTF-8 bytes", [RAW_JSON], "any other message"),
}
_PLACEHOLDER = re.compile(r"\{([^{}:]+)(?::([^{}]*))?\}")
_UNSAFE_KEY = re.compile(r"[^\w.\-]")
_ROLE = re.compile(r":[\w:]+:`(~?)([^`]+)`")


def asyncapi_document(
    routes: Iterable[Route],
    *,
    title: str = "wsframework app",
    version: str = "0.1.0",
    description: str | None = None,
    servers: Servers | None = None,
    root_path: str = "",
    rooms: Rooms | None = None,
) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document (a JSON-able dict) of the WebSocket routes among ``routes``.

    :meth:`App.asyncapi <wsframework.App.asyncapi>` calls this with the app's routes, rooms
    and ``root_path``. Plain HTTP routes are left out.

    Args:
        routes: the routes, in matching order (``app.router.routes``).
        title: ``info.title``.
        version: ``info.version``, the version of your API (not wsframework's).
        description: ``info.description`` (CommonMark), before the rooms' paragraph.
        servers: where the app is served: a ``ws://`` or ``wss://`` URL
            (``"wss://chat.example.com"``, named ``default``), a list of them (``server1``,
            ``server2``, ... or ``default`` for a list of one) or a mapping of names to URLs.
            A URL's path is the server's ``pathname``; without one, ``root_path`` is.
            ``None`` lists no server.
        root_path: the prefix the app is mounted under: the servers' ``pathname`` or, without
            servers, the start of every channel's address.
        rooms: the app's rooms, whose configured patterns are described.

    Raises:
        ValueError: a server URL is not ``ws://`` or ``wss://`` with a host, or has a query
            or fragment.
        TypeError: a route's message type has no JSON Schema (the message names the route).
    """
    builder = _Builder(root_path=root_path if not servers else "")
    websocket_routes = [route for route in routes if isinstance(route, WebSocketRoute)]
    builder.add_routes(websocket_routes)
    info: dict[str, Any] = {"title": title, "version": version}
    paragraphs = [description] if description else []
    room_rows = _configured_rooms(rooms)
    if room_rows:
        paragraphs.append(_rooms_paragraph(room_rows))
    if paragraphs:
        info["description"] = "\n\n".join(paragraphs)
    document: dict[str, Any] = {"asyncapi": ASYNCAPI_VERSION, "info": info}
    if servers:
        document["servers"] = _servers(servers, root_path)
    document["defaultContentType"] = "application/json"
    document["channels"] = builder.channels
    document["operations"] = builder.operations
    components: dict[str, Any] = {}
    if builder.schemas:
        components["schemas"] = builder.schemas
    if builder.messages:
        components["messages"] = builder.messages
    if components:
        document["components"] = components
    if room_rows:
        document["x-wsframework-rooms"] = room_rows
    return document


# ---------------------------------------------------------------------------- servers


def _servers(servers: Servers, root_path: str) -> dict[str, Any]:
    if isinstance(servers, str):
        named: Mapping[str, str] = {"default": servers}
    elif isinstance(servers, Mapping):
        named = servers
    elif len(servers) == 1:
        named = {"default": servers[0]}
    else:
        named = {f"server{i}": url for i, url in enumerate(servers, 1)}
    out: dict[str, Any] = {}
    for name, url in named.items():
        if not isinstance(url, str):
            raise ValueError(f"server {name!r} must be a ws:// or wss:// URL, not {url!r}")
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.netloc:
            raise ValueError(
                f"server {name!r} must be a ws:// or wss:// URL with a host, such as "
                f"ws://127.0.0.1:8000, not {url!r}"
            )
        if parts.query or parts.fragment:
            raise ValueError(f"server {name!r} ({url!r}) must not have a query or fragment")
        server: dict[str, Any] = {"host": parts.netloc, "protocol": parts.scheme}
        pathname = parts.path.rstrip("/") or root_path
        if pathname:
            server["pathname"] = pathname
        out[_key(name, out)] = server
    return out


# ---------------------------------------------------------------------------- rooms


def _configured_rooms(rooms: Rooms | None) -> list[dict[str, Any]]:
    """The configured room patterns, the untouched default left out."""
    if rooms is None:
        return []
    rows = []
    for index, (pattern, options) in enumerate(rooms.patterns):
        if index == 0 and options == RoomOptions():
            continue
        history = options.history
        rows.append(
            {
                "pattern": pattern,
                "history": None if history is None else {"size": history.size, "ttl": history.ttl},
                "queueSize": options.queue_size,
                "queueBytes": options.queue_bytes,
                "overflow": options.overflow,
                "overflowCode": options.overflow_code,
                "encode": _qualified_name(options.encode),
                "announce": _qualified_name(options.announce),
            }
        )
    return rows


def _rooms_paragraph(rows: list[dict[str, Any]]) -> str:
    lines = [
        "Rooms (which rooms a connection joins is up to its handler, so no channel names "
        "one; a room's publications and announcements reach its members outside the "
        "routes' message types):"
    ]
    for row in rows:
        history = row["history"]
        text = f"- `{row['pattern']}`: "
        if history is None:
            text += "no history (nothing to recover after a reconnect)"
        else:
            text += (
                f"keeps the last {history['size']} publications for {history['ttl']:g} s, "
                "which a member rejoining from a position it kept recovers"
            )
        if row["encode"]:
            text += f"; publications are encoded by `{row['encode']}`"
        if row["announce"]:
            text += f"; joins and leaves are announced by `{row['announce']}`"
        lines.append(text + f"; a slow member's full queue: {row['overflow']}.")
    return "\n".join(lines)


def _qualified_name(func: Any) -> str | None:
    if func is None:
        return None
    module = getattr(func, "__module__", None)
    name = getattr(func, "__qualname__", None) or repr(func)
    return f"{module}.{name}" if module else name


# ---------------------------------------------------------------------------- routes


@dataclass
class _Side:
    """One direction of one route: its operation and the type its messages have."""

    channel: str
    action: Action
    type: Any
    messages: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Builder:
    root_path: str
    channels: dict[str, Any] = field(default_factory=dict)
    operations: dict[str, Any] = field(default_factory=dict)
    messages: dict[str, Any] = field(default_factory=dict)
    schemas: dict[str, Any] = field(default_factory=dict)

    def add_routes(self, routes: list[WebSocketRoute]) -> None:
        sides: list[tuple[WebSocketRoute, _Side]] = []
        for route in routes:
            key = _key(route.name, self.channels)
            self.channels[key] = self._channel(route)
            contract = route.contract
            for action in ("receive", "send"):
                sides.append((route, _Side(key, action, getattr(contract, action, None))))
        self._type_messages([side for _, side in sides if side.type is not None])
        for route, side in sides:
            self._side_messages(route, side)
            self._operation(route, side)

    def _channel(self, route: WebSocketRoute) -> dict[str, Any]:
        channel: dict[str, Any] = {
            "address": self.root_path + _PLACEHOLDER.sub(r"{\1}", route.template),
            "title": route.name,
        }
        summary, details = _docstring(route.endpoint)
        if summary:
            channel["summary"] = summary
        paragraphs = [details] if details else []
        parameters = _parameters(route)
        if parameters:
            channel["parameters"] = parameters
        binding: dict[str, Any] = {"method": "GET"}
        if route.subprotocols:
            offered = ", ".join(f"`{p}`" for p in route.subprotocols)
            sentence = f"Subprotocols, most preferred first: {offered}."
            if route.subprotocol_required:
                sentence += " A client that offers none of them is refused with HTTP 400."
            paragraphs.append(sentence)
            header: dict[str, Any] = {
                "type": "string",
                "description": "The subprotocols the client offers, comma-separated; the "
                "server picks one of " + ", ".join(route.subprotocols) + ".",
            }
            binding["headers"] = {
                "type": "object",
                "properties": {"Sec-WebSocket-Protocol": header},
            }
            if route.subprotocol_required:
                binding["headers"]["required"] = ["Sec-WebSocket-Protocol"]
            channel["x-wsframework-subprotocols"] = {
                "supported": list(route.subprotocols),
                "required": route.subprotocol_required,
            }
        if route.accepts in _ACCEPTS:
            accepted, _, other = _ACCEPTS[route.accepts]
            paragraphs.append(
                f'Clients may send {accepted} (`accepts="{route.accepts}"`); {other} closes the '
                "connection with code 1003 (unsupported data)."
            )
            channel["x-wsframework-accepts"] = route.accepts
        if paragraphs:
            channel["description"] = "\n\n".join(paragraphs)
        channel["messages"] = {}
        channel["bindings"] = {"ws": binding | {"bindingVersion": WS_BINDING_VERSION}}
        return channel

    def _type_messages(self, sides: list[_Side]) -> None:
        """The messages of the typed sides, their schemas in ``components.schemas``."""
        if not sides:
            return
        from .typed import _adapter  # pydantic: only for an app with message types

        inputs = [
            ((i, side.action), _MODES[side.action], _adapter(side.type))
            for i, side in enumerate(sides)
        ]
        generate = type(inputs[0][2]).json_schemas  # TypeAdapter.json_schemas, a staticmethod
        try:
            schemas, top = generate(inputs, ref_template=REF_TEMPLATE)
        except Exception:
            for (i, action), mode, adapter in inputs:  # name the culprit
                try:
                    adapter.json_schema(mode=mode, ref_template=REF_TEMPLATE)
                except Exception as exc:
                    reason = str(exc).strip().partition("\n")[0]
                    raise TypeError(
                        f"route {sides[i].channel!r}: its {action} type has no JSON Schema: "
                        f"{reason}"
                    ) from exc
            raise
        self.schemas.update(sorted(top.get("$defs", {}).items()))
        for (i, action), mode in schemas:
            side = sides[i]
            schema = schemas[(i, action), mode]
            union = schema.get("oneOf") or schema.get("anyOf") or [schema]
            names = [_ref_name(member) for member in union]
            if all(names) and not set(schema) - {"oneOf", "anyOf", "discriminator", "$ref"}:
                for name in names:
                    assert name is not None
                    self.messages.setdefault(name, self._model_message(name))
                    side.messages.append(name)
                discriminator = schema.get("discriminator", {}).get("propertyName")
                listed = ", ".join(f"`{n}`" for n in names)
                if discriminator:
                    side.notes.append(
                        f"Each message is one of {listed}; its `{discriminator}` tells which."
                    )
                elif len(names) > 1:
                    side.notes.append(f"Each message is one of {listed}.")
            else:
                name = _key(f"{side.channel}-{action}", self.messages)
                self.messages[name] = {
                    "name": name,
                    "title": f"{side.channel} ({action})",
                    "contentType": "application/json",
                    "payload": schema,
                }
                side.messages.append(name)

    def _model_message(self, name: str) -> dict[str, Any]:
        schema = self.schemas[name]
        message: dict[str, Any] = {"name": name, "title": schema.get("title", name)}
        summary = _markdown(str(schema.get("description", ""))).partition("\n")[0]
        if summary:
            message["summary"] = summary
        message["contentType"] = "application/json"
        message["payload"] = {"$ref": REF_TEMPLATE.format(model=name)}
        return message

    def _side_messages(self, route: WebSocketRoute, side: _Side) -> None:
        """What a side without a type sends, and the replies a contract adds."""
        contract = route.contract
        accepts = _ACCEPTS.get(route.accepts) if side.action == "receive" else None
        if side.type is None:
            side.messages.extend(accepts[1] if accepts else (RAW_TEXT, RAW_BINARY))
        elif side.action == "receive":
            note = _ON_INVALID.get(str(getattr(contract, "on_invalid", "")), "")
            if route.accepts == "json":  # what is not JSON is refused before (1003)
                note = note.replace("is not JSON or does not validate", "does not validate")
            side.notes.append(note)
        if accepts is not None:
            side.notes.append(
                f"Clients may send {accepts[0]}: {accepts[2]} closes the connection with code "
                "1003 before the handler sees it."
            )
        if side.action == "send" and side.type is not None:
            side.notes.append(
                "Messages sent around the `send=` type (with `send_message`, or a room's "
                "publications and announcements when the type leaves them out) are not described."
            )
        replies = getattr(contract, "on_invalid", None) == "reply"
        if side.action == "send" and replies and getattr(contract, "receive", None) is not None:
            side.messages.append(INVALID_REPLY)
        for name in side.messages:
            if name in _BUILTIN_MESSAGES and name not in self.messages:
                self.messages[name] = copy.deepcopy(_BUILTIN_MESSAGES[name])
        channel_messages = self.channels[side.channel]["messages"]
        for name in side.messages:
            channel_messages[name] = {"$ref": f"#/components/messages/{name}"}

    def _operation(self, route: WebSocketRoute, side: _Side) -> None:
        who = "receives from clients" if side.action == "receive" else "sends to clients"
        operation: dict[str, Any] = {
            "action": side.action,
            "channel": {"$ref": f"#/channels/{side.channel}"},
            "title": f"{route.name} ({side.action})",
            "summary": f"What `{route.name}` {who} on `{route.template}`.",
        }
        if side.type is None:
            what = (
                ""
                if side.action == "receive" and route.accepts != "any"
                else ": any text or binary message"
            )
            side.notes.insert(0, f"The route declares no `{side.action}=` type{what}.")
        if any(side.notes):
            operation["description"] = " ".join(note for note in side.notes if note)
        operation["messages"] = [
            {"$ref": f"#/channels/{side.channel}/messages/{name}"} for name in side.messages
        ]
        self.operations[_key(f"{side.channel}.{side.action}", self.operations)] = operation


_MODES: dict[str, Literal["validation", "serialization"]] = {
    "receive": "validation",
    "send": "serialization",
}


def _parameters(route: WebSocketRoute) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for found in _PLACEHOLDER.finditer(route.template):
        name, converter_name = found.group(1), found.group(2) or "str"
        converter = route.param_converters[name]
        regex = getattr(converter, "regex", "")
        doc = _docstring(type(converter))[0]
        text = f"Path parameter, converter `{converter_name}` (matches `{regex}`)."
        out[name] = {"description": f"{text} {doc}" if doc else text}
    return out


def _docstring(obj: Any) -> tuple[str, str]:
    """The first line of ``obj``'s docstring and the rest, in Markdown."""
    summary, _, rest = _markdown(inspect.getdoc(obj) or "").partition("\n")
    return summary.strip(), rest.strip()


def _markdown(text: str) -> str:
    """reStructuredText's inline code and roles (``x``, :class:`~a.X`) as Markdown's `x`."""

    def code(found: re.Match[str]) -> str:
        target = found.group(2)
        return f"`{target.rpartition('.')[2] if found.group(1) else target}`"

    return _ROLE.sub(code, text.strip()).replace("``", "`")


def _ref_name(schema: Any) -> str | None:
    """``Model`` when ``schema`` is exactly ``{"$ref": "#/components/schemas/Model"}``."""
    prefix = REF_TEMPLATE.format(model="")
    if isinstance(schema, dict) and len(schema) == 1:
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(prefix):
            return ref[len(prefix) :]
    return None


def _key(name: str, taken: Mapping[str, Any]) -> str:
    """``name`` made a valid component key (letters, digits, ``.``, ``-``, ``_``), unique."""
    key = _UNSAFE_KEY.sub("_", name) or "_"
    candidate, n = key, 1
    while candidate in taken:
        n += 1
        candidate = f"{key}_{n}"
    return candidate
