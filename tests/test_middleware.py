"""The built-in middleware (wsframework.middleware), each in an App over memory streams.

Clients are scripted wsproto peers (tests/peers.py); no sockets.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
import trio
import trio.testing
from wsproto.events import AcceptConnection, CloseConnection, RejectConnection

from wsframework import App, WebSocketRequest
from wsframework.middleware import AccessLog, OriginAllowlist, TokenAuth

from .test_app import open_ws


def accepting_app(*middleware: Any) -> tuple[App, list[WebSocketRequest]]:
    """An App whose one route, ``/``, records the request and accepts it."""
    app = App(middleware=list(middleware))
    seen: list[WebSocketRequest] = []

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        seen.append(request)
        await request.accept()

    return app, seen


async def rejection(
    nursery: trio.Nursery, app: App, target: str, **request: Any
) -> tuple[int, bytes]:
    """Status and body of a refused handshake."""
    peer, event = await open_ws(nursery, app, target, **request)
    assert isinstance(event, RejectConnection), event
    return event.status_code, await peer.rejection_body(event)


# --- OriginAllowlist --------------------------------------------------------------------------


async def test_origin_allowlist(nursery: trio.Nursery) -> None:
    app = App(middleware=[OriginAllowlist(["https://good.example"], allow_missing=False)])

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        await request.accept()

    _, event = await open_ws(
        nursery, app, "/", extra_headers=[(b"origin", b"https://evil.example")]
    )
    assert isinstance(event, RejectConnection) and event.status_code == 403
    _, event = await open_ws(nursery, app, "/")
    assert isinstance(event, RejectConnection) and event.status_code == 403
    _, event = await open_ws(
        nursery, app, "/", extra_headers=[(b"origin", b"https://GOOD.example/")]
    )
    assert isinstance(event, AcceptConnection)


async def test_origin_refusal_names_the_origin_and_is_logged(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    app, seen = accepting_app(OriginAllowlist(["https://good.example"]))
    caplog.set_level(logging.INFO, logger="wsframework")
    status, body = await rejection(
        nursery, app, "/", extra_headers=[(b"origin", b"https://evil.example")]
    )
    assert (status, body) == (403, b"Origin 'https://evil.example' is not allowed.\n")
    assert seen == []
    assert any(
        r.name == "wsframework" and "refused origin 'https://evil.example' on /" in r.getMessage()
        for r in caplog.records
    )


async def test_origin_missing_is_allowed_by_default_and_star_allows_any(
    nursery: trio.Nursery,
) -> None:
    app, _ = accepting_app(OriginAllowlist(["https://good.example"]))
    _, event = await open_ws(nursery, app, "/")
    assert isinstance(event, AcceptConnection)
    app, seen = accepting_app(OriginAllowlist(["*"], allow_missing=False))
    _, event = await open_ws(nursery, app, "/", extra_headers=[(b"origin", b"null")])
    assert isinstance(event, AcceptConnection)
    assert await rejection(nursery, app, "/") == (403, b"Origin None is not allowed.\n")
    assert len(seen) == 1


# --- TokenAuth --------------------------------------------------------------------------------


async def test_token_auth(nursery: trio.Nursery) -> None:
    async def verify(token: str) -> str | None:
        return "alice" if token == "secret" else None

    app = App(middleware=[TokenAuth(verify)])
    users: list[str] = []

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        users.append(request.state.user)
        await request.accept()

    _, event = await open_ws(nursery, app, "/")
    assert isinstance(event, RejectConnection) and event.status_code == 401
    assert (b"www-authenticate", b"Bearer") in event.headers
    _, event = await open_ws(nursery, app, "/?token=wrong")
    assert isinstance(event, RejectConnection) and event.status_code == 403
    _, event = await open_ws(nursery, app, "/?token=secret")
    assert isinstance(event, AcceptConnection)
    _, event = await open_ws(
        nursery, app, "/", extra_headers=[(b"authorization", b"Bearer secret")]
    )
    assert isinstance(event, AcceptConnection)
    await trio.testing.wait_all_tasks_blocked()
    assert users == ["alice", "alice"]


async def test_token_auth_with_a_sync_verifier_and_the_header_only(nursery: trio.Nursery) -> None:
    checked: list[str] = []

    def verify(token: str) -> dict[str, str] | None:
        checked.append(token)
        return {"name": "bob"} if token == "t0k3n" else None

    app, seen = accepting_app(TokenAuth(verify, query_param=None))
    # The query string is not read at all with query_param=None.
    status, body = await rejection(nursery, app, "/?token=t0k3n")
    assert (status, body) == (401, b"Authentication required: send a bearer token.\n")
    assert await rejection(
        nursery, app, "/", extra_headers=[(b"authorization", b"Bearer nope")]
    ) == (403, b"Invalid token.\n")
    # The scheme is case-insensitive and the token is stripped.
    _, event = await open_ws(
        nursery, app, "/", extra_headers=[(b"authorization", b"BEARER   t0k3n")]
    )
    assert isinstance(event, AcceptConnection)
    await trio.testing.wait_all_tasks_blocked()
    assert checked == ["nope", "t0k3n"]
    assert [r.state.user for r in seen] == [{"name": "bob"}]


async def test_token_auth_never_asks_the_verifier_about_an_empty_token(
    nursery: trio.Nursery,
) -> None:
    checked: list[str] = []

    def verify(token: str) -> str:
        checked.append(token)
        return token

    app, _ = accepting_app(TokenAuth(verify))
    for extra, target in [([(b"authorization", b"Bearer")], "/"), ([], "/?token=")]:
        status, _body = await rejection(nursery, app, target, extra_headers=extra)
        assert status == 401
    # Another scheme falls back to the query parameter.
    _, event = await open_ws(
        nursery, app, "/?token=q", extra_headers=[(b"authorization", b"Basic dTpw")]
    )
    assert isinstance(event, AcceptConnection)
    await trio.testing.wait_all_tasks_blocked()
    assert checked == ["q"]


# --- AccessLog --------------------------------------------------------------------------------


async def test_access_log_line(nursery: trio.Nursery, caplog: pytest.LogCaptureFixture) -> None:
    app = App(middleware=[AccessLog()])

    @app.websocket("/chat", subprotocols=["v1"])
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.aclose(4000, "bye")

    caplog.set_level(logging.INFO, logger="wsframework.access")
    peer, _ = await open_ws(nursery, app, "/chat", subprotocols=["v1"])
    close = await peer.expect(CloseConnection)
    await peer.send(close.response())
    await peer.read_until_eof()
    await trio.testing.wait_all_tasks_blocked()
    line = next(r.getMessage() for r in caplog.records if r.name == "wsframework.access")
    assert "/chat accepted subprotocol=v1" in line
    assert "close=4000" in line


async def test_access_log_of_a_refused_handshake_has_no_close_code(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("tests.access")
    app = App(middleware=[AccessLog(logger)])

    @app.websocket("/private")
    async def handler(request: WebSocketRequest) -> None:
        await request.reject(404)

    caplog.set_level(logging.INFO, logger="tests.access")
    status, _ = await rejection(nursery, app, "/private")
    assert status == 404
    await trio.testing.wait_all_tasks_blocked()
    (record,) = [r for r in caplog.records if r.name == "tests.access"]
    assert record.levelno == logging.INFO
    assert re.fullmatch(
        r".* /private rejected subprotocol=None duration=\d+\.\d{3}s close=-", record.getMessage()
    )


async def test_access_log_measures_the_whole_connection(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture, autojump_clock: trio.abc.Clock
) -> None:
    app = App(middleware=[AccessLog()])

    @app.websocket("/slow")
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await trio.sleep(3)  # virtual time: the duration being measured, not a wait for anyone
        await ws.aclose()

    caplog.set_level(logging.INFO, logger="wsframework.access")
    peer, event = await open_ws(nursery, app, "/slow")
    assert isinstance(event, AcceptConnection)
    close = await peer.expect(CloseConnection)
    await peer.send(close.response())
    await peer.read_until_eof()
    await trio.testing.wait_all_tasks_blocked()
    (line,) = [r.getMessage() for r in caplog.records if r.name == "wsframework.access"]
    assert line.endswith(" /slow accepted subprotocol=None duration=3.000s close=1000")


async def test_access_log_is_written_when_the_handler_fails(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    app = App(middleware=[AccessLog()])

    @app.websocket("/boom")
    async def handler(request: WebSocketRequest) -> None:
        await request.accept()
        raise RuntimeError("handler bug")

    caplog.set_level(logging.INFO)
    peer, event = await open_ws(nursery, app, "/boom")
    assert isinstance(event, AcceptConnection)
    assert (await peer.expect(CloseConnection)).code == 1011
    await trio.testing.wait_all_tasks_blocked()
    (line,) = [r.getMessage() for r in caplog.records if r.name == "wsframework.access"]
    assert "/boom accepted" in line
    assert any(r.exc_info and "handler bug" in str(r.exc_info[1]) for r in caplog.records)
