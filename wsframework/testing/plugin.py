"""The pytest plugin: the ``wsframework_client`` fixture, a running :class:`TestClient` of the
``app`` fixture the test suite defines.

Installed with wsframework (the ``pytest11`` entry point ``wsframework``); without the package
installed, enable it with ``-p wsframework.testing.plugin`` or
``pytest_plugins = ["wsframework.testing.plugin"]`` in the root ``conftest.py``. The fixture is
async: tests using it run under pytest-trio (``trio_mode = true`` or ``@pytest.mark.trio``),
which this module does not import. Only a test requesting ``wsframework_client`` needs an
``app`` fixture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ..app import App
from .client import TestClient

__all__ = ["wsframework_client"]


@pytest.fixture
async def wsframework_client(app: App) -> AsyncIterator[TestClient]:
    """A :class:`TestClient` of the ``app`` fixture, entered (the app's lifespan runs) for the
    test and exited after it.

    The startup is not bounded: a startup that may hang is bounded in the ``app`` fixture or by
    a test timeout. Cancelling the test cancels the connections, then runs the shutdown.
    """
    async with TestClient(app) as client:
        yield client
