"""The ``asyncapi`` command (wsframework.cli.asyncapi), in process; the same command from a
real ``python -m wsframework`` process is in tests/integration/test_cli.py."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.asyncapi_helpers import asyncapi_errors
from wsframework.cli import main

APP_SOURCE = '''
from collections.abc import Callable

from wsframework import App

app = App()


@app.websocket("/rooms/{room}", subprotocols=["v1"])
async def room(request):
    """A room."""
    await request.accept()


def make_app():
    return app


broken = App()


@broken.websocket("/call", receive=Callable[[], None])
async def call(request):
    await request.accept()
'''


@pytest.fixture
def app_dir(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "cliasyncapi_app.py").write_text(APP_SOURCE)
    path = list(sys.path)
    yield tmp_path
    sys.path[:] = path
    sys.modules.pop("cliasyncapi_app", None)


def test_prints_the_document(app_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["asyncapi", "cliasyncapi_app:app", "--app-dir", str(app_dir)]) == 0
    out = capsys.readouterr().out
    document = json.loads(out)
    assert asyncapi_errors(document) == []
    assert out.startswith('{\n  "asyncapi": "3.0.0",\n') and out.endswith("}\n")
    assert document["channels"]["room"]["summary"] == "A room."
    assert "servers" not in document


def test_writes_it_with_servers_and_title(
    app_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "asyncapi.json"
    argv = ["asyncapi", "cliasyncapi_app:make_app", "--factory", "--app-dir", str(app_dir)]
    argv += ["--server", "ws://127.0.0.1:8000", "--server", "wss://example.com"]
    argv += ["--title", "Rooms", "--api-version", "2.0.0", "--output", str(output)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"wsframework: wrote the AsyncAPI document of cliasyncapi_app:make_app to {output}\n"
    )
    document = json.loads(output.read_text(encoding="utf-8"))
    assert asyncapi_errors(document) == []
    assert document["info"] == {"title": "Rooms", "version": "2.0.0"}
    assert [s["host"] for s in document["servers"].values()] == ["127.0.0.1:8000", "example.com"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--server", "http://example.com"],
            "cannot describe cliasyncapi_app:app: server 'default' must be a ws:// or wss:// "
            "URL with a host, such as ws://127.0.0.1:8000, not 'http://example.com'",
        ),
        (
            ["--output", "/nonexistent-dir/asyncapi.json"],
            "cannot write /nonexistent-dir/asyncapi.json: No such file or directory",
        ),
    ],
)
def test_a_user_error_is_one_line(
    app_dir: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["asyncapi", "cliasyncapi_app:app", "--app-dir", str(app_dir), *extra]) == 1
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", f"wsframework: error: {message}\n")


def test_a_type_without_schema_is_a_user_error(
    app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["asyncapi", "cliasyncapi_app:broken", "--app-dir", str(app_dir)]) == 1
    assert capsys.readouterr().err.startswith(
        "wsframework: error: cannot describe cliasyncapi_app:broken: route 'call': its receive "
        "type has no JSON Schema: "
    )
