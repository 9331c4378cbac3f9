"""The fuzz targets by name, the modules each one aims at, and their share of a full run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .engine_targets import engine_client, engine_server
from .handshake_targets import client_handshake, server_handshake
from .routing_targets import routing

__all__ = ["TARGETS", "Target"]


@dataclass(frozen=True)
class Target:
    """One fuzz target.

    Attributes:
        run: the function, ``run(data: bytes) -> None``; raises when an invariant breaks.
        modules: the source files it aims at (for the coverage report).
        share: its part of a full run's inputs (the shares add up to 1).
    """

    run: Callable[[bytes], None]
    modules: tuple[str, ...]
    share: float


TARGETS: dict[str, Target] = {
    "server_handshake": Target(
        server_handshake,
        ("wsframework/protocol/handshake.py",),
        0.25,
    ),
    "client_handshake": Target(
        client_handshake,
        ("wsframework/protocol/client_handshake.py",),
        0.15,
    ),
    "engine_server": Target(
        engine_server,
        (
            "wsframework/protocol/engine.py",
            "wsframework/protocol/frames.py",
            "wsframework/protocol/deflate.py",
        ),
        0.2,
    ),
    "engine_client": Target(
        engine_client,
        (
            "wsframework/protocol/engine.py",
            "wsframework/protocol/frames.py",
            "wsframework/protocol/deflate.py",
        ),
        0.2,
    ),
    "routing": Target(
        routing,
        ("wsframework/routing.py", "wsframework/converters.py"),
        0.2,
    ),
}
