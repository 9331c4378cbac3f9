"""The server's TLS defaults (wsframework.tls): the context's settings, and a TLS 1.1 client
refused by a real server on loopback while a modern one is served."""

from __future__ import annotations

import ssl
import warnings
from functools import partial
from pathlib import Path

import pytest
import trio

from wsframework import WebSocketRequest, WebSocketServer, serve_websocket, server_ssl_context
from wsframework.client import open_websocket
from wsframework.tls import MINIMUM_TLS_VERSION

from .certs import make_certificate


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


def test_the_context_refuses_old_protocols_and_compression(tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    context = server_ssl_context(str(cert), str(key))
    assert context.protocol == ssl.PROTOCOL_TLS_SERVER
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2 == MINIMUM_TLS_VERSION
    assert context.options & ssl.OP_NO_COMPRESSION
    assert context.verify_mode == ssl.CERT_NONE  # no client certificates asked for
    ciphers = context.get_ciphers()
    assert ciphers
    for cipher in ciphers:
        # Forward secrecy (ECDHE/DHE, or TLS 1.3's own), no SHA-1 MAC, no anonymous suites.
        assert cipher["kea"] in {"kx-ecdhe", "kx-dhe", "kx-any"}, cipher["name"]
        assert cipher["digest"] != "sha1", cipher["name"]
        assert cipher["auth"] != "auth-null", cipher["name"]


def test_a_bad_certificate_is_the_ssl_error(tmp_path: Path) -> None:
    bogus = tmp_path / "cert.pem"
    bogus.write_text("not a certificate\n")
    with pytest.raises(ssl.SSLError):
        server_ssl_context(str(bogus))
    with pytest.raises(FileNotFoundError):
        server_ssl_context(str(tmp_path / "missing.pem"))


def _old_client(version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client that speaks only ``version``, whatever the system's security level says."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSVersion.TLSv1_1 is deprecated
        context.minimum_version = version
        context.maximum_version = version
    return context


async def _tls_handshake(port: int, context: ssl.SSLContext) -> str | None:
    """The protocol version the handshake agreed, or ``None`` when the server refused it."""
    with trio.fail_after(10):
        stream = await trio.open_ssl_over_tcp_stream("127.0.0.1", port, ssl_context=context)
        try:
            await stream.do_handshake()
        except trio.BrokenResourceError:
            return None
        else:
            return stream.version()
        finally:
            await trio.aclose_forcefully(stream)


async def _echo(request: WebSocketRequest) -> None:
    ws = await request.accept()
    async for message in ws:
        await ws.send_message(message)


async def test_a_tls_1_1_client_is_refused_and_a_modern_one_served(
    nursery: trio.Nursery, tls_files: tuple[Path, Path]
) -> None:
    cert, key = tls_files
    old = _old_client(ssl.TLSVersion.TLSv1_1)
    # The control: this machine's OpenSSL can speak TLS 1.1 to a server that allows it, so the
    # refusal below is our server's doing.
    lax = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    lax.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        lax.minimum_version = ssl.TLSVersion.TLSv1
    lax.load_cert_chain(str(cert), str(key))
    lax_server: WebSocketServer = await nursery.start(
        partial(serve_websocket, _echo, "127.0.0.1", 0, lax)
    )
    assert await _tls_handshake(lax_server.port, old) == "TLSv1.1"

    server: WebSocketServer = await nursery.start(
        partial(serve_websocket, _echo, "127.0.0.1", 0, server_ssl_context(str(cert), str(key)))
    )
    assert await _tls_handshake(server.port, old) is None
    assert await _tls_handshake(server.port, _old_client(ssl.TLSVersion.TLSv1_2)) == "TLSv1.2"
    modern = ssl.create_default_context(cafile=str(cert))
    with trio.fail_after(10):
        async with open_websocket("127.0.0.1", server.port, "/", use_ssl=modern) as ws:
            await ws.send_message("over TLS 1.2+")
            assert await ws.get_message() == "over TLS 1.2+"
