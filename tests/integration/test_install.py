"""Installing the project as a user does (docs/install.md): ``make dist``'s build makes an sdist
with the C source and ``py.typed`` and a wheel from it, without warnings; that wheel, installed
(not editable) into a fresh virtualenv outside the repository, imports, runs its command,
registers its pytest plugin (the user's tests pass through it), runs the user's app under
``wsframework run`` and Hypercorn, and type-checks it with ``mypy --strict``; a build without
the C speedup installs and masks in Python; ``make run`` installs the package and pydantic only.

About 15 s on a 2-core machine: three builds, three virtualenvs and two mypy runs (see
``install_helpers`` for how the fresh virtualenv gets its dependencies offline).
"""

from __future__ import annotations

import ast
import json
import re
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from wsframework import __version__

from .cli_helpers import Server, recv_one
from .install_helpers import REPO, build, clean_env, fresh_venv, run, warnings_in
from .processes import free_port, wait_for_port

USER_APP = '''\
"""A user's app: a plain route, a typed route, and a TestClient run of it."""

import trio
from pydantic import BaseModel

from wsframework import App, WebSocketRequest
from wsframework.testing import TestClient
from wsframework.typed import TypedRequest


class Say(BaseModel):
    text: str


class Said(BaseModel):
    text: str
    length: int


app = App()


@app.websocket("/rooms/{room}")
async def room(request: WebSocketRequest) -> None:
    ws = await request.accept()
    name: str = request.path_params["room"]
    await ws.send_message(f"welcome to {name}")


@app.websocket("/say", receive=Say, send=Said)
async def say(request: TypedRequest[Say, Said]) -> None:
    ws = await request.accept()
    async for message in ws:
        await ws.send(Said(text=message.text, length=len(message.text)))


async def main() -> None:
    async with TestClient(app) as client:
        async with client.websocket("/rooms/lobby") as ws:
            assert await ws.get_message() == "welcome to lobby"
        async with client.websocket("/say") as ws:
            await ws.send_message('{"text": "hello"}')
            print(await ws.get_message())


if __name__ == "__main__":
    trio.run(main)
'''

# The user's own tests, through the pytest plugin of the installed wheel (docs/testing.md).
USER_TESTS = """\
import pytest

from wsframework import App
from wsframework.testing import TestClient

import app as user_app


@pytest.fixture
def app() -> App:
    return user_app.app


async def test_room(wsframework_client: TestClient) -> None:
    async with wsframework_client.websocket("/rooms/lobby") as ws:
        assert await ws.get_message() == "welcome to lobby"


async def test_say(wsframework_client: TestClient) -> None:
    async with wsframework_client.websocket("/say") as ws:
        await ws.send_message('{"text": "hi"}')
        assert await ws.get_message() == '{"text":"hi","length":2}'
"""

# Only an error if mypy sees wsframework's types (an untyped package would make it Any).
MISTYPED = """\
from wsframework import App, WebSocketRequest

app = App()


@app.websocket("/echo")
async def echo(request: WebSocketRequest) -> None:
    ws = await request.accept()
    await ws.send_message(42)
"""

PROBE = """\
import json, sys
from importlib.metadata import distribution, entry_points
from pathlib import Path
import wsframework, wsframework.testing, wsframework.rooms
from wsframework.protocol.masking import SPEEDUPS, xor_mask
print(json.dumps({
    "file": wsframework.__file__,
    "py.typed": (Path(wsframework.__file__).parent / "py.typed").is_file(),
    "pytest11": sorted(f"{e.name} = {e.value}" for e in entry_points(group="pytest11")),
    "installer": distribution("wsframework").read_text("INSTALLER"),
    "direct_url": distribution("wsframework").read_text("direct_url.json"),
    "speedups": SPEEDUPS,
    "mask": xor_mask(b"abcdef", b"\\x01\\x02\\x03\\x04").hex(),
    "checkout_on_path": any(Path(p or ".").resolve() == Path(sys.argv[1]) for p in sys.path),
}))
"""


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """``make dist``'s command: the sdist, the wheel built from it, and the build's output."""
    out = tmp_path_factory.mktemp("dist")
    output = build(["-m", "build", "--outdir", out, REPO], out)
    (sdist,) = out.glob("wsframework-*.tar.gz")
    (wheel,) = out.glob("wsframework-*.whl")
    return sdist, wheel, output


@pytest.fixture(scope="module")
def user_project(
    dists: tuple[Path, Path, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The wheel with the ``typed`` and ``hypercorn`` extras (and pytest, pytest-trio) in a
    fresh virtualenv, and a project directory holding the user's app and tests; returns (the
    virtualenv's bin directory, the project)."""
    root = tmp_path_factory.mktemp("user")
    also = ("pytest", "pytest-trio")  # what the user installs beside it to test
    bin_dir = fresh_venv(root, dists[1], frozenset({"typed", "hypercorn"}), also)
    project = root / "project"
    project.mkdir()
    (project / "app.py").write_text(USER_APP)
    (project / "test_app.py").write_text(USER_TESTS)
    (project / "pytest.ini").write_text("[pytest]\ntrio_mode = true\n")
    (project / "mistyped.py").write_text(MISTYPED)
    return bin_dir, project


def probe(bin_dir: Path, cwd: Path) -> dict[str, object]:
    """What the fresh virtualenv's Python sees of wsframework."""
    probed = run([bin_dir / "python", "-c", PROBE, REPO], cwd)
    assert probed.returncode == 0, probed.stderr
    result: dict[str, object] = json.loads(probed.stdout)
    return result


def test_the_build_is_warning_free_and_the_wheel_ships_types_and_entry_points(
    dists: tuple[Path, Path, str],
) -> None:
    _, wheel, output = dists
    assert warnings_in(output) == []
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        declared = archive.read(entry_points).decode()
    for shipped in (
        "wsframework/py.typed",
        "wsframework/_speedups.pyi",
        "wsframework/testing/plugin.py",
        "wsframework/rooms/redis_scripts.py",
    ):
        assert shipped in names
    assert any(
        n.startswith("wsframework/_speedups.") and n.endswith((".so", ".pyd")) for n in names
    )
    assert not any(name.startswith(("tests/", "apps/", "benchmarks/")) for name in names)
    assert "[pytest11]\nwsframework = wsframework.testing.plugin" in declared
    assert "[console_scripts]\nwsframework = wsframework.cli:main" in declared


def test_the_sdist_carries_the_c_source_and_py_typed(dists: tuple[Path, Path, str]) -> None:
    sdist = dists[0]
    with tarfile.open(sdist) as archive:
        names = {name.partition("/")[2] for name in archive.getnames()}
    for shipped in (
        "setup.py",
        "pyproject.toml",
        "README.md",
        "wsframework/_speedups.c",
        "wsframework/_speedups.pyi",
        "wsframework/py.typed",
    ):
        assert shipped in names
    assert not any(name.startswith(("tests/", "apps/")) for name in names)


def test_the_installed_wheel_imports_outside_the_checkout(user_project: tuple[Path, Path]) -> None:
    bin_dir, project = user_project
    seen = probe(bin_dir, project)
    assert Path(str(seen["file"])).is_relative_to(bin_dir.parent)
    assert seen["checkout_on_path"] is False
    assert seen["py.typed"] is True
    assert "editable" not in str(seen["direct_url"])  # installed from the wheel, a copy
    assert "wsframework = wsframework.testing.plugin" in seen["pytest11"]  # type: ignore[operator]
    assert seen["speedups"] is True
    assert seen["mask"] == "606060606464"
    checked = run([sys.executable, "-m", "pip", "--python", bin_dir / "python", "check"], project)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_command_runs_from_the_virtualenvs_bin(user_project: tuple[Path, Path]) -> None:
    bin_dir, project = user_project
    helped = run([bin_dir / "wsframework", "--help"], project)
    assert helped.returncode == 0, helped.stderr
    assert "run" in helped.stdout and "routes" in helped.stdout
    version = run([bin_dir / "wsframework", "--version"], project)
    assert version.stdout.strip() == f"wsframework {__version__}"


def test_a_users_app_runs_and_passes_mypy_strict(user_project: tuple[Path, Path]) -> None:
    bin_dir, project = user_project
    ran = run([bin_dir / "python", "app.py"], project)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == {"text": "hello", "length": 5}

    mypy = [sys.executable, "-m", "mypy", "--strict", "--python-executable", bin_dir / "python"]
    mypy += ["--cache-dir", project.parent / "mypy-cache", "--no-error-summary"]
    checked = run([*mypy, "--verbose", "app.py"], project)
    assert (checked.returncode, checked.stdout) == (0, ""), checked.stdout + checked.stderr[-3000:]
    parsed = [
        line.split()[2]
        for line in checked.stderr.splitlines()
        if "Parsing" in line and line.endswith("(wsframework)")
    ]  # mypy read the installed copy, not the checkout
    assert len(parsed) == 1 and Path(parsed[0]).is_relative_to(bin_dir.parent), parsed
    refused = run([*mypy, "mistyped.py"], project)
    assert refused.returncode == 1
    assert 'Argument 1 to "send_message"' in refused.stdout, refused.stdout


def test_a_users_tests_pass_through_the_installed_pytest_plugin(
    user_project: tuple[Path, Path],
) -> None:
    bin_dir, project = user_project
    tested = run([bin_dir / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-3000:]
    assert "2 passed" in tested.stdout


@pytest.mark.parametrize("runner", ["wsframework run", "hypercorn"])
def test_a_users_app_runs_both_ways_from_the_virtualenv(
    runner: str, user_project: tuple[Path, Path]
) -> None:
    bin_dir, project = user_project
    if runner == "hypercorn":
        port = free_port()
        command = [str(bin_dir / "python"), "-m", "hypercorn", "--worker-class", "trio"]
        args = ["--bind", f"127.0.0.1:{port}", "app:app"]
    else:
        command, args = [str(bin_dir / "wsframework")], ["run", "app:app", "--port", "0"]
    server = Server(args, clean_env(), command=command, cwd=project)
    try:
        if runner == "hypercorn":
            wait_for_port(port, server.proc)
        else:
            port = server.started()[1]
        assert recv_one(f"ws://127.0.0.1:{port}/rooms/lobby") == "welcome to lobby"
        assert server.stop() == 0, server.output
    finally:
        server.cleanup()
    assert "Traceback" not in server.output, server.output


@pytest.mark.parametrize(
    "env",
    [{"WSFRAMEWORK_NO_EXTENSIONS": "1"}, {"CC": "/nonexistent/cc"}],
    ids=["WSFRAMEWORK_NO_EXTENSIONS", "no-compiler"],
)
def test_without_the_c_speedup_the_package_masks_in_python(
    env: dict[str, str], dists: tuple[Path, Path, str], tmp_path: Path
) -> None:
    out = tmp_path / "dist"  # from the sdist: no build/ directory left by an earlier build
    build(["-m", "pip", "wheel", "--no-deps", "-q", "-w", out, dists[0]], tmp_path, **env)
    (wheel,) = out.glob("wsframework-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert not any(
            n.startswith("wsframework/_speedups.")
            for n in archive.namelist()
            if not n.endswith(".pyi")
        )
    if "WSFRAMEWORK_NO_EXTENSIONS" in env:
        assert wheel.name.endswith("-py3-none-any.whl")
    seen = probe(fresh_venv(tmp_path, wheel), tmp_path)
    assert seen["speedups"] is False
    assert seen["mask"] == "606060606464"


def test_make_run_installs_the_package_and_pydantic_only() -> None:
    makefile = (REPO / "Makefile").read_text()
    # What make would run for `make run` from scratch (-B), without running it (-n).
    planned = run(["make", "-n", "-B", "run"], REPO)
    assert planned.returncode == 0, planned.stderr
    installs = [line for line in planned.stdout.splitlines() if "pip install" in line]
    assert installs[-1].endswith("pip install -q -e '.[typed]'"), installs
    assert "[dev]" not in planned.stdout and "[docs]" not in planned.stdout
    assert "dist: $(STAMP)" in makefile and "-m build" in makefile


def test_every_python_claimed_is_tested_by_make_test_pythons() -> None:
    # (no tomllib on Python 3.10): pyproject.toml and noxfile.py read as text
    pyproject = (REPO / "pyproject.toml").read_text()
    floor = re.search(r'^requires-python = ">=(3\.\d+)"$', pyproject, re.MULTILINE)
    assert floor is not None
    classified = re.findall(r'"Programming Language :: Python :: (3\.\d+)"', pyproject)
    (assigned,) = [
        node.value
        for node in ast.parse((REPO / "noxfile.py").read_text()).body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "PYTHONS"
    ]
    tested = ast.literal_eval(assigned)
    assert tested == classified, (tested, classified)
    assert tested[0] == floor.group(1)
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in tested
