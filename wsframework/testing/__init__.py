"""Testing an :class:`~wsframework.App` without a socket: :class:`TestClient` speaks real
WebSocket frames and HTTP/1.1 to the app over in-memory streams, through the same server code
as ``wsframework run``. The pytest plugin (:mod:`wsframework.testing.plugin`) gives it as the
``wsframework_client`` fixture. See docs/testing.md."""

from __future__ import annotations

from .client import TestClient, TestResponse

__all__ = ["TestClient", "TestResponse"]
