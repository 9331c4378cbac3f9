"""Loading ``MODULE:ATTR`` and the ``routes`` command (wsframework.cli.loading), in process.

The modules are written to a temporary directory put first on ``sys.path``; the test removes
them from ``sys.modules`` and restores ``sys.path`` afterwards. The same errors seen from a real
``python -m wsframework`` process are in tests/integration/test_cli.py.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from wsframework import App
from wsframework.cli import main
from wsframework.cli.common import CLIError
from wsframework.cli.loading import _format_routes, load_app, route_table

APP_SOURCE = """
from wsframework import App

app = App()
empty = App()
not_an_app = 42


class Holder:
    inner = app


def make_app():
    return app


def make_nothing():
    return None


def make_broken():
    raise RuntimeError("database unreachable")


@app.websocket("/chat", subprotocols=["chat.v2", "chat.v1"], subprotocol_required=True)
async def chat(request):
    await request.accept()


@app.websocket("/rooms/{room}", name="room", accepts="json")
async def room(request):
    await request.accept()


@app.http("/items", methods=["POST"])
async def items(request):
    return {"ok": True}
"""


@pytest.fixture
def app_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory of importable modules, first on ``sys.path`` for this test only."""
    (tmp_path / "cliunit_app.py").write_text(APP_SOURCE)
    (tmp_path / "cliunit_broken.py").write_text("import does_not_exist_xyz  # noqa\n")
    (tmp_path / "cliunit_syntax.py").write_text("def f(:\n")
    (tmp_path / "cliunit_pkg").mkdir()
    (tmp_path / "cliunit_pkg" / "__init__.py").write_text("")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith("cliunit_")]:
        del sys.modules[name]


def load_error(spec: str, *, factory: bool = False) -> str:
    with pytest.raises(CLIError) as info:
        load_app(spec, factory=factory)
    return str(info.value)


@pytest.mark.usefixtures("app_dir")
def test_loads_an_attribute_or_a_dotted_path() -> None:
    app = load_app("cliunit_app:app")
    assert isinstance(app, App)
    assert load_app("cliunit_app:Holder.inner") is app
    assert load_app("cliunit_app:make_app", factory=True) is app


@pytest.mark.parametrize("spec", ["cliunit_app", "cliunit_app:", ":app", ""])
def test_the_import_string_needs_module_and_attribute(spec: str) -> None:
    assert load_error(spec) == (
        f"import string {spec!r} must be in the form MODULE:ATTR (e.g. apps.echo.app:app)"
    )


@pytest.mark.usefixtures("app_dir")
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "nosuchmodule_xyz:app",
            "cannot import 'nosuchmodule_xyz': no module named 'nosuchmodule_xyz'",
        ),
        (
            "cliunit_pkg.nosuch:app",
            "cannot import 'cliunit_pkg.nosuch': no module named 'cliunit_pkg.nosuch'",
        ),
        ("cliunit_app:missing", "module 'cliunit_app' has no attribute 'missing'"),
        ("cliunit_app:Holder.missing", "module 'cliunit_app' has no attribute 'Holder.missing'"),
        (
            "cliunit_app:not_an_app",
            "'cliunit_app:not_an_app' is an object of type int, not a wsframework App",
        ),
        (
            "cliunit_app:make_app",
            "'cliunit_app:make_app' is a function (make_app), not a wsframework App "
            "(pass --factory if it is a function returning the App)",
        ),
        ("cliunit_app:Holder", "'cliunit_app:Holder' is a type (Holder), not a wsframework App"),
    ],
)
def test_what_cannot_be_loaded_is_said_in_one_sentence(spec: str, message: str) -> None:
    assert load_error(spec) == message


def test_a_failing_import_names_the_error_and_where_it_happened(app_dir: Path) -> None:
    assert load_error("cliunit_broken:app") == (
        "module 'cliunit_broken' failed to import: ModuleNotFoundError: No module named "
        f"'does_not_exist_xyz' ({app_dir / 'cliunit_broken.py'}:1)"
    )
    message = load_error("cliunit_syntax:app")
    assert message.startswith("module 'cliunit_syntax' failed to import: SyntaxError: ")
    assert message.endswith(f"({app_dir / 'cliunit_syntax.py'}:1)")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "cliunit_app:not_an_app",
            "--factory: 'cliunit_app:not_an_app' is not callable (it is an object of type int)",
        ),
        (
            "cliunit_app:make_nothing",
            "app factory 'cliunit_app:make_nothing' returned an object of type NoneType, "
            "not a wsframework App",
        ),
    ],
)
@pytest.mark.usefixtures("app_dir")
def test_factory_errors(spec: str, message: str) -> None:
    assert load_error(spec, factory=True) == message


def test_a_failing_factory_is_reported_with_its_error(app_dir: Path) -> None:
    message = load_error("cliunit_app:make_broken", factory=True)
    assert message.startswith(
        "app factory 'cliunit_app:make_broken' failed: RuntimeError: database unreachable ("
    )
    assert str(app_dir / "cliunit_app.py") in message


# --- the routes command -------------------------------------------------------------------------


@pytest.mark.usefixtures("app_dir")
def test_route_table_rows() -> None:
    rows = route_table(load_app("cliunit_app:app"))
    assert [row["path"] for row in rows] == ["/chat", "/rooms/{room}", "/items"]
    assert rows[0] == {
        "path": "/chat",
        "name": "chat",
        "kind": "websocket",
        "methods": [],
        "subprotocols": ["chat.v2", "chat.v1"],
        "subprotocol_required": True,
        "accepts": "any",
        "receive": None,
        "send": None,
        "on_invalid": None,
    }
    assert rows[1]["accepts"] == "json"
    assert (rows[2]["kind"], rows[2]["methods"], rows[2]["accepts"]) == ("http", ["POST"], None)
    json.dumps(rows)  # what --json prints


@pytest.mark.usefixtures("app_dir")
def test_route_table_text() -> None:
    assert _format_routes(route_table(load_app("cliunit_app:app"))).splitlines() == [
        "KIND       PATH           NAME   METHODS  SUBPROTOCOLS                 ACCEPTS  CONTRACT",
        "websocket  /chat          chat   -        chat.v2, chat.v1 (required)  any      -",
        "websocket  /rooms/{room}  room   -        -                            json     -",
        "http       /items         items  POST     -                            -        -",
    ]
    assert _format_routes(route_table(load_app("cliunit_app:empty"))) == "(no routes)"


def test_routes_command_prints_the_table_or_json(
    app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["routes", "cliunit_app:app", "--app-dir", str(app_dir)]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:2] == ["websocket", "/chat"]
    assert main(["routes", "cliunit_app:make_app", "--factory", "--json"]) == 0
    assert [row["name"] for row in json.loads(capsys.readouterr().out)] == [
        "chat",
        "room",
        "items",
    ]


@pytest.mark.usefixtures("app_dir")
def test_routes_command_reports_a_user_error_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["routes", "cliunit_app:missing"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("wsframework: error: module 'cliunit_app' has no attribute 'missing'\n")
