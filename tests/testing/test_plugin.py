"""wsframework.testing.plugin: the ``wsframework_client`` fixture, run by pytester in a user's
test suite through the installed ``pytest11`` entry point, as a user gets it (``make install``
reinstalls the package whenever pyproject.toml changes)."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import wsframework.testing.plugin

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parents[2]

USER_TESTS = """
import pytest
import trio

from wsframework import App, WebSocketRequest
from wsframework.testing import TestClient


@pytest.fixture
def app() -> App:
    app = App()

    @app.websocket("/echo")
    async def echo(request: WebSocketRequest) -> None:
        ws = await request.accept()
        async for message in ws:
            await ws.send_message(message)

    @app.http("/health")
    async def health(request) -> dict:
        return {"status": "ok"}

    return app


async def test_echo(wsframework_client: TestClient) -> None:
    async with wsframework_client.websocket("/echo") as ws:
        await ws.send_message("hi")
        with trio.fail_after(5):
            assert await ws.get_message() == "hi"
    assert (await wsframework_client.get("/health")).json() == {"status": "ok"}


async def test_rooms_are_open(wsframework_client: TestClient, app: App) -> None:
    assert await app.rooms["lobby"].count() == 0
"""


@pytest.fixture(autouse=True)
def this_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """The subprocesses import this checkout's wsframework."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in a subprocess with the plugin, and pytest-trio in trio mode."""
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    return pytester.runpytest_subprocess(*args)


def test_the_fixture_runs_a_client_of_the_users_app(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = run(pytester)
    result.assert_outcomes(passed=2)


def test_no_app_fixture_only_fails_the_tests_that_request_the_client(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_user="""
async def test_other() -> None:
    pass


async def test_needs_app(wsframework_client) -> None:
    pass
"""
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*fixture 'app' not found*"])


def test_the_plugin_does_not_import_pytest_trio() -> None:
    source = Path(wsframework.testing.plugin.__file__).read_text()
    assert "pytest_trio" not in source


def test_the_entry_point_is_declared() -> None:
    # (no tomllib on Python 3.10): the section and its one line, read as text
    text = (ROOT / "pyproject.toml").read_text()
    section = re.search(
        r"^\[project\.entry-points\.pytest11\]\n(.*?)(?:\n\[|\Z)", text, re.M | re.S
    )
    assert section is not None, "no [project.entry-points.pytest11] in pyproject.toml"
    assert section.group(1).strip() == 'wsframework = "wsframework.testing.plugin"'
    module = section.group(1).partition("=")[2].strip().strip('"')
    assert module == wsframework.testing.plugin.__name__


def test_the_installed_package_registers_the_plugin() -> None:
    found = [ep for ep in entry_points(group="pytest11") if ep.name == "wsframework"]
    assert [ep.value for ep in found] == ["wsframework.testing.plugin"], (
        "reinstall the package (make install) to register its pytest11 entry point"
    )
