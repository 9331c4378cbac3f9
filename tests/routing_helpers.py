"""Endpoints and route shorthands shared by the ``tests/test_routing*.py`` files."""

from __future__ import annotations

from typing import Any

from wsframework.routing import Route


async def chat() -> None: ...


async def lobby() -> None: ...


def ws(template: str, name: str = "r", **kwargs: Any) -> Route:
    return Route(template, chat, name=name, **kwargs)


def http(template: str, name: str = "h", methods: Any = None, **kwargs: Any) -> Route:
    return Route(template, chat, name=name, kind="http", methods=methods, **kwargs)
