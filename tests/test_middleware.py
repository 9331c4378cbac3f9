"""The built-in middleware (wsframework.middleware), each in an App through the test client
(real frames and HTTP/1.1 over memory streams; no sockets), on WebSocket and plain HTTP routes.

Which requests a middleware runs for, and its types: tests/test_middleware_kinds.py.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
import trio
import trio.testing

from wsframework import (
    App,
    ConnectionClosed,
    HTTPRequest,
    WebSocketRequest,
)
from wsframework.middleware import AccessLog, OriginAllowlist, TokenAuth
from wsframework.testing import TestClient

from .app_helpers import handshake, refusal, rejection


def accepting_app(*middleware: Any) -> tuple[App, list[WebSocketRequest]]:
    """An App whose one route, ``/``, records the request and accepts it."""
    app = App(middleware=list(middleware))
    seen: list[WebSocketRequest] = []

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        seen.append(request)
        await request.accept()

    return app, seen


# --- OriginAllowlist --------------------------------------------------------------------------


async def test_origin_allowlist() -> None:
    app = App(middleware=[OriginAllowlist(["https://good.example"], allow_missing=False)])

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        await request.accept()

    async with TestClient(app) as client:
        status, _ = await handshake(client, "/", headers={"origin": "https://evil.example"})
        assert status == 403
        assert (await handshake(client, "/"))[0] == 403
        status, _ = await handshake(client, "/", headers={"origin": "https://GOOD.example/"})
        assert status == 101


async def test_origin_refusal_names_the_origin_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, seen = accepting_app(OriginAllowlist(["https://good.example"]))
    caplog.set_level(logging.INFO, logger="wsframework")
    async with TestClient(app) as client:
        status, body = await rejection(client, "/", headers={"origin": "https://evil.example"})
    assert (status, body) == (403, b"Origin 'https://evil.example' is not allowed.\n")
    assert seen == []
    assert any(
        r.name == "wsframework" and "refused origin 'https://evil.example' on /" in r.getMessage()
        for r in caplog.records
    )


async def test_origin_missing_is_allowed_by_default_and_star_allows_any() -> None:
    app, _ = accepting_app(OriginAllowlist(["https://good.example"]))
    async with TestClient(app) as client:
        assert await handshake(client, "/") == (101, b"")
    app, seen = accepting_app(OriginAllowlist(["*"], allow_missing=False))
    async with TestClient(app) as client:
        assert await handshake(client, "/", headers={"origin": "null"}) == (101, b"")
        assert await rejection(client, "/") == (403, b"Origin None is not allowed.\n")
    assert len(seen) == 1


async def test_origin_allowlist_on_a_plain_http_route(caplog: pytest.LogCaptureFixture) -> None:
    app = App(middleware=[OriginAllowlist(["https://good.example"])])
    caplog.set_level(logging.INFO, logger="wsframework")

    @app.http("/api", methods=["POST"])
    async def api(request: HTTPRequest) -> str:
        return "done"

    async with TestClient(app) as client:
        refused = await client.post("/api", headers={"Origin": "https://evil.example"})
        assert (refused.status_code, refused.text) == (
            403,
            "Origin 'https://evil.example' is not allowed.\n",
        )
        assert "refused origin 'https://evil.example' on /api from 127.0.0.1:50000" in caplog.text
        allowed = await client.post("/api", headers={"Origin": "https://good.example"})
        assert (allowed.status_code, allowed.text) == (200, "done")
        assert (await client.post("/api")).status_code == 200  # no Origin: allow_missing


# --- TokenAuth --------------------------------------------------------------------------------


async def test_token_auth() -> None:
    async def verify(token: str) -> str | None:
        return "alice" if token == "secret" else None

    app = App(middleware=[TokenAuth(verify)])
    users: list[str] = []

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        users.append(request.state.user)
        await request.accept()

    async with TestClient(app) as client:
        refused = await refusal(client, "/")
        assert refused.status_code == 401
        assert (b"www-authenticate", b"Bearer") in refused.headers
        assert (await handshake(client, "/?token=wrong"))[0] == 403
        assert (await handshake(client, "/?token=secret"))[0] == 101
        auth = {"authorization": "Bearer secret"}
        assert (await handshake(client, "/", headers=auth))[0] == 101
        await trio.testing.wait_all_tasks_blocked()
    assert users == ["alice", "alice"]


async def test_token_auth_with_a_sync_verifier_and_the_header_only() -> None:
    checked: list[str] = []

    def verify(token: str) -> dict[str, str] | None:
        checked.append(token)
        return {"name": "bob"} if token == "t0k3n" else None

    app, seen = accepting_app(TokenAuth(verify, query_param=None))
    async with TestClient(app) as client:
        # The query string is not read at all with query_param=None.
        status, body = await rejection(client, "/?token=t0k3n")
        assert (status, body) == (401, b"Authentication required: send a bearer token.\n")
        assert await rejection(client, "/", headers={"authorization": "Bearer nope"}) == (
            403,
            b"Invalid token.\n",
        )
        # The scheme is case-insensitive and the token is stripped.
        status, _ = await handshake(client, "/", headers={"authorization": "BEARER   t0k3n"})
        assert status == 101
        await trio.testing.wait_all_tasks_blocked()
    assert checked == ["nope", "t0k3n"]
    assert [r.state.user for r in seen] == [{"name": "bob"}]


async def test_token_auth_never_asks_the_verifier_about_an_empty_token() -> None:
    checked: list[str] = []

    def verify(token: str) -> str:
        checked.append(token)
        return token

    app, _ = accepting_app(TokenAuth(verify))
    async with TestClient(app) as client:
        for extra, target in [({"authorization": "Bearer"}, "/"), ({}, "/?token=")]:
            status, _body = await rejection(client, target, headers=extra)
            assert status == 401
        # Another scheme falls back to the query parameter.
        status, _ = await handshake(client, "/?token=q", headers={"authorization": "Basic dTpw"})
        assert status == 101
        await trio.testing.wait_all_tasks_blocked()
    assert checked == ["q"]


async def test_token_auth_on_a_plain_http_route() -> None:
    app = App(middleware=[TokenAuth({"secret": "alice"}.get)])

    @app.http("/me")
    async def me(request: HTTPRequest) -> dict[str, str]:
        return {"user": request.state.user}

    async with TestClient(app) as client:
        missing = await client.get("/me")
        assert (missing.status_code, missing.headers["www-authenticate"]) == (401, "Bearer")
        assert missing.text == "Authentication required: send a bearer token.\n"
        bad = await client.get("/me", headers={"Authorization": "Bearer nope"})
        assert (bad.status_code, bad.text) == (403, "Invalid token.\n")
        good = await client.get("/me?token=secret")
        assert (good.status_code, good.json()) == (200, {"user": "alice"})


async def test_token_auth_restricted_to_websockets_leaves_http_routes_open() -> None:
    app = App()
    app.add_middleware(TokenAuth({"secret": "alice"}.get), only="websocket")

    @app.http("/health")
    async def health(request: HTTPRequest) -> dict[str, str]:
        return {"status": "ok"}

    @app.websocket("/ws")
    async def ws(request: WebSocketRequest) -> None:
        await request.accept()

    async with TestClient(app) as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        assert (await handshake(client, "/ws"))[0] == 401
        assert (await handshake(client, "/ws?token=secret"))[0] == 101


# --- AccessLog --------------------------------------------------------------------------------


def access_lines(caplog: pytest.LogCaptureFixture, name: str = "wsframework.access") -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == name]


async def test_access_log_line(caplog: pytest.LogCaptureFixture) -> None:
    app = App(middleware=[AccessLog()])

    @app.websocket("/chat", subprotocols=["v1"])
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.aclose(4000, "bye")

    caplog.set_level(logging.INFO, logger="wsframework.access")
    async with TestClient(app) as client:
        async with client.websocket("/chat", subprotocols=["v1"]) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
            assert closed.value.reason.code == 4000
        await trio.testing.wait_all_tasks_blocked()
        (line,) = access_lines(caplog)
    assert "/chat accepted subprotocol=v1" in line
    assert "close=4000" in line


async def test_access_log_of_a_refused_handshake_has_no_close_code(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("tests.access")
    app = App(middleware=[AccessLog(logger)])

    @app.websocket("/private")
    async def handler(request: WebSocketRequest) -> None:
        await request.reject(404)

    caplog.set_level(logging.INFO, logger="tests.access")
    async with TestClient(app) as client:
        status, _ = await rejection(client, "/private")
        assert status == 404
        await trio.testing.wait_all_tasks_blocked()
    (record,) = [r for r in caplog.records if r.name == "tests.access"]
    assert record.levelno == logging.INFO
    assert re.fullmatch(
        r".* /private rejected subprotocol=None duration=\d+\.\d{3}s close=-", record.getMessage()
    )


async def test_access_log_measures_the_whole_connection(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.abc.Clock
) -> None:
    app = App(middleware=[AccessLog()])

    @app.websocket("/slow")
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await trio.sleep(3)  # virtual time: the duration being measured, not a wait for anyone
        await ws.aclose()

    caplog.set_level(logging.INFO, logger="wsframework.access")
    async with TestClient(app) as client:
        async with client.websocket("/slow") as ws:
            with pytest.raises(ConnectionClosed):
                await ws.get_message()
        await trio.testing.wait_all_tasks_blocked()
        (line,) = access_lines(caplog)
    assert line.endswith(" /slow accepted subprotocol=None duration=3.000s close=1000")


async def test_access_log_is_written_when_the_handler_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App(middleware=[AccessLog()])

    @app.websocket("/boom")
    async def handler(request: WebSocketRequest) -> None:
        await request.accept()
        raise RuntimeError("handler bug")

    caplog.set_level(logging.INFO)
    async with TestClient(app) as client:
        async with client.websocket("/boom") as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
            assert closed.value.reason.code == 1011
        await trio.testing.wait_all_tasks_blocked()
        (line,) = access_lines(caplog)
    assert "/boom accepted" in line
    assert any(r.exc_info and "handler bug" in str(r.exc_info[1]) for r in caplog.records)


async def test_access_log_of_plain_http_requests(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.abc.Clock
) -> None:
    app = App(middleware=[AccessLog()])

    @app.http("/health")
    async def health(request: HTTPRequest) -> dict[str, str]:
        await trio.sleep(0.25)  # virtual time: the duration being measured
        return {"status": "ok"}

    @app.http("/boom", methods=["POST"])
    async def boom(request: HTTPRequest) -> str:
        raise RuntimeError("handler bug")

    caplog.set_level(logging.INFO, logger="wsframework.access")
    async with TestClient(app) as client:
        assert (await client.get("/health?full=1")).status_code == 200
        assert (await client.post("/boom")).status_code == 500
    assert access_lines(caplog) == [
        "127.0.0.1:50000 GET /health?full=1 200 duration=0.250s",
        "127.0.0.1:50000 POST /boom 500 duration=0.000s",
    ]
