"""The validated options objects: defaults, every refusal, and ``build``."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from wsframework.options import (
    CONN_TIMEOUT,
    HANDSHAKE_TIMEOUT,
    MAX_HTTP_BODY,
    MAX_MESSAGE_SIZE,
    MESSAGE_QUEUE_SIZE,
    RECEIVE_BYTES,
    SAME_AS_INTERVAL,
    SEND_TIMEOUT,
    ASGIOptions,
    ClientOptions,
    ConnectionOptions,
    ServerOptions,
)
from wsframework.protocol.deflate_options import DeflateOptions

CONNECTION_CLASSES = [ConnectionOptions, ServerOptions, ClientOptions]


# ---------------------------------------------------------------------- defaults


@pytest.mark.parametrize("cls", CONNECTION_CLASSES)
def test_connection_defaults(cls: type[ConnectionOptions]) -> None:
    options = cls()
    assert options.message_queue_size == MESSAGE_QUEUE_SIZE == 16
    assert options.max_message_size == MAX_MESSAGE_SIZE == 2**20
    assert options.receive_buffer_size == options.read_size == RECEIVE_BYTES == 64 * 1024
    assert options.disconnect_timeout == CONN_TIMEOUT == 60
    assert options.compression == DeflateOptions()
    assert options.ping_interval is None and options.ping_timeout is SAME_AS_INTERVAL
    assert options.keepalive is None


def test_server_defaults_bound_handshakes_and_sends_where_clients_do_not() -> None:
    server = ServerOptions()
    assert server.connect_timeout == HANDSHAKE_TIMEOUT == 10
    assert server.send_timeout == SEND_TIMEOUT == 30
    for cls in (ConnectionOptions, ClientOptions):
        assert cls().connect_timeout == CONN_TIMEOUT
        assert cls().send_timeout is None
    assert server.max_connections is None and server.max_connections_per_ip is None
    assert server.handshake_rate is None and server.handshake_burst is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_connections", 0),
        ("max_connections_per_ip", -1),
        ("max_connections", 1.5),
        ("handshake_burst", 0),
        ("handshake_rate", 0),
        ("handshake_rate", math.nan),
        ("send_timeout", 0),
    ],
)
def test_server_limits_out_of_range(name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"^{name} must be"):
        ServerOptions(**{name: value})


def test_the_asgi_defaults_are_the_servers() -> None:
    server, asgi = ServerOptions(), ASGIOptions()
    for name in ("message_queue_size", "max_message_size", "disconnect_timeout", "max_http_body"):
        assert getattr(asgi, name) == getattr(server, name), name
    assert server.max_http_body == MAX_HTTP_BODY == 2**20
    assert asgi.receive_timeout is None


@pytest.mark.parametrize("cls", [*CONNECTION_CLASSES, ASGIOptions])
def test_options_are_frozen(cls: type[Any]) -> None:
    options = cls()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.max_message_size = 5


# ---------------------------------------------------------------------- accepted values


def test_none_receive_buffer_size_means_the_default() -> None:
    options = ClientOptions(receive_buffer_size=None)
    assert options.receive_buffer_size == RECEIVE_BYTES
    assert options.read_size == RECEIVE_BYTES
    assert options == ClientOptions()


@pytest.mark.parametrize(
    "settings",
    [
        {"message_queue_size": 0},
        {"message_queue_size": 10_000},
        {"max_message_size": 1},
        {"receive_buffer_size": 1},
        {"connect_timeout": 0.001, "disconnect_timeout": math.inf},
        {"compression": None},
        {"compression": DeflateOptions(client_no_context_takeover=True)},
        {"ping_interval": 0.5, "ping_timeout": 30},
    ],
)
def test_values_at_the_edges_are_accepted(settings: dict[str, Any]) -> None:
    options = ServerOptions(**settings)
    for name, value in settings.items():
        assert getattr(options, name) == value


def test_keepalive() -> None:
    assert ClientOptions(ping_timeout=3).keepalive is None  # no interval: no pings
    assert ClientOptions(ping_interval=5).keepalive == (5, 5)  # the timeout is the interval
    assert ClientOptions(ping_interval=5, ping_timeout=2).keepalive == (5, 2)
    assert ServerOptions(ping_interval=0.5, ping_timeout=10).keepalive == (0.5, 10)


# ---------------------------------------------------------------------- refusals


SECONDS = "a number of seconds greater than 0 or None (off)"

INVALID = [
    ("message_queue_size", -1, "an integer >= 0"),
    ("message_queue_size", 1.5, "an integer >= 0"),
    ("message_queue_size", True, "an integer >= 0"),
    ("message_queue_size", None, "an integer >= 0"),
    ("max_message_size", 0, "an integer greater than 0"),
    ("max_message_size", -5, "an integer greater than 0"),
    ("max_message_size", 2.0, "an integer greater than 0"),
    ("max_message_size", False, "an integer greater than 0"),
    ("receive_buffer_size", 0, "an integer greater than 0"),
    ("receive_buffer_size", "64k", "an integer greater than 0"),
    ("connect_timeout", 0, SECONDS),
    ("connect_timeout", -1.0, SECONDS),
    ("connect_timeout", math.nan, SECONDS),
    ("disconnect_timeout", 0, SECONDS),
    ("disconnect_timeout", "60", SECONDS),
    ("disconnect_timeout", True, SECONDS),
    ("ping_interval", 0, SECONDS),
    ("ping_interval", -3, SECONDS),
    ("ping_timeout", 0.0, SECONDS),
    ("ping_timeout", "soon", SECONDS),
]


@pytest.mark.parametrize("cls", CONNECTION_CLASSES)
@pytest.mark.parametrize(("name", "value", "rule"), INVALID)
def test_every_refusal_names_the_setting_and_the_value(
    cls: type[ConnectionOptions], name: str, value: Any, rule: str
) -> None:
    with pytest.raises(ValueError) as info:
        cls(**{name: value})
    assert str(info.value) == f"{name} must be {rule}, got {value!r}"


def test_compression_must_be_deflate_options() -> None:
    with pytest.raises(ValueError) as info:
        ClientOptions(compression=True)  # type: ignore[arg-type]
    assert str(info.value) == "compression must be a DeflateOptions or None, got bool"


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_server_max_http_body(value: Any) -> None:
    with pytest.raises(ValueError) as info:
        ServerOptions(max_http_body=value)
    assert str(info.value) == f"max_http_body must be an integer greater than 0, got {value!r}"
    assert ServerOptions(max_http_body=1).max_http_body == 1


@pytest.mark.parametrize(
    ("name", "value", "rule"),
    [
        ("message_queue_size", -1, "an integer >= 0"),
        ("max_message_size", 0, "an integer greater than 0"),
        ("receive_timeout", 0, SECONDS),
        ("receive_timeout", "1", SECONDS),
        ("disconnect_timeout", -1, SECONDS),
        ("max_http_body", 0, "an integer greater than 0"),
    ],
)
def test_asgi_refusals_name_the_setting_and_the_value(name: str, value: Any, rule: str) -> None:
    with pytest.raises(ValueError) as info:
        ASGIOptions(**{name: value})
    assert str(info.value) == f"{name} must be {rule}, got {value!r}"


def test_asgi_accepts_its_edges() -> None:
    options = ASGIOptions(message_queue_size=0, receive_timeout=0.5, max_http_body=1)
    assert (options.message_queue_size, options.receive_timeout) == (0, 0.5)


# ---------------------------------------------------------------------- build


def test_build_from_keywords() -> None:
    options = ServerOptions.build(None, max_message_size=10, ping_interval=3)
    assert isinstance(options, ServerOptions)
    assert options == ServerOptions(max_message_size=10, ping_interval=3)
    with pytest.raises(ValueError, match="max_message_size must be"):
        ServerOptions.build(None, max_message_size=0)


def test_build_takes_an_options_object_with_default_keywords() -> None:
    given = ServerOptions(max_message_size=10)
    keywords = {f.name: f.default for f in dataclasses.fields(ServerOptions)}
    assert ServerOptions.build(given, **keywords) is given
    assert ServerOptions.build(given) is given
    # Equal to the default counts as not given (a fresh DeflateOptions() is the default).
    assert ServerOptions.build(given, compression=DeflateOptions()) is given


def test_build_refuses_an_options_object_and_keywords_together() -> None:
    with pytest.raises(ValueError) as info:
        ServerOptions.build(ServerOptions(), ping_interval=5, max_message_size=10)
    assert str(info.value) == (
        "pass settings either in options= or as keywords, not both: max_message_size, ping_interval"
    )


def test_build_refuses_the_wrong_options_class() -> None:
    with pytest.raises(TypeError) as info:
        ServerOptions.build(ClientOptions())
    assert str(info.value) == "options must be a ServerOptions, got ClientOptions"
    with pytest.raises(TypeError, match="got dict"):
        ClientOptions.build({"max_message_size": 5})


def test_settings_in_keeps_only_this_classes_settings() -> None:
    def entry_point(
        host: str, max_message_size: int = 7, ping_interval: float | None = 2.0
    ) -> dict[str, Any]:
        return ClientOptions.settings_in(locals())

    assert entry_point("h") == {"max_message_size": 7, "ping_interval": 2.0}
    assert ServerOptions.settings_in({"max_http_body": 3, "nursery": None}) == {"max_http_body": 3}
    assert ClientOptions.settings_in({"max_http_body": 3}) == {}
