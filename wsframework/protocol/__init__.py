"""Sans-I/O protocol code: handshake checks, close codes, deflate settings, frames, masking.

Nothing in this package imports trio; it turns bytes into facts and facts into bytes, so it can
be tested without an event loop. This ``__init__`` imports nothing, so importing one module of
the package loads only what that module needs: the ASGI transport uses ``close`` without
loading wsproto.
"""
