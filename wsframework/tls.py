"""The server's TLS settings: one place for the defaults a security review expects.

``wsframework run --ssl-certfile`` builds its context here, and so can a program that calls
:func:`~wsframework.serve_websocket` or :meth:`App.serve <wsframework.App.serve>` itself:
``ssl_context=server_ssl_context("cert.pem", "key.pem")``.
"""

from __future__ import annotations

import ssl

__all__ = ["MINIMUM_TLS_VERSION", "server_ssl_context"]

#: The oldest protocol a client may speak: TLS 1.0 and 1.1 are deprecated (RFC 8996).
MINIMUM_TLS_VERSION = ssl.TLSVersion.TLSv1_2


def server_ssl_context(certfile: str, keyfile: str | None = None) -> ssl.SSLContext:
    """A server-side TLS context for ``certfile`` (and ``keyfile``, if the key is apart).

    The settings: TLS 1.2 or newer (:data:`MINIMUM_TLS_VERSION`), TLS compression off
    (``OP_NO_COMPRESSION``, against CRIME), Python's default secure cipher suites (forward
    secrecy and AEAD ciphers only, from ``ssl.create_default_context``), no client
    certificates asked for, and ALPN ``http/1.1``. Set anything else on the returned context
    before serving with it.

    Raises:
        ssl.SSLError: the files hold no valid certificate or key, or they do not match.
        OSError: a file cannot be read.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    # Python's defaults already say this on 3.11 with OpenSSL 3; set here so that a distro's
    # looser OpenSSL configuration cannot undo them.
    context.minimum_version = MINIMUM_TLS_VERSION
    context.options |= ssl.OP_NO_COMPRESSION
    context.set_alpn_protocols(["http/1.1"])
    context.load_cert_chain(certfile, keyfile)
    return context
