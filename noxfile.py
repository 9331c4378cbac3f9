"""The test suite on every Python that pyproject.toml claims (``make test-pythons``, run by
``make test`` after its main run).

``tests-3.10`` … ``tests-3.13`` each make a fresh virtualenv, install the package editable with
its ``dev`` extra from the package index (which compiles the C speedup for that Python, beside
its source, as ``make install`` does for the main run), check that the C masking code is the
one in use, and run the unit and integration tests. ``pure-python`` does the same on one
version with the extension absent (``WSFRAMEWORK_NO_EXTENSIONS=1``) and checks that the
pure-Python masking is in use. The Autobahn conformance run (``make conformance``) is not here:
once, on the main Python, is enough.

Interpreters are looked up on ``PATH`` (``python3.10`` …) and, where that finds none that runs
(pyenv's shims run only the versions selected with ``pyenv global``), in pyenv's
``versions/`` directory; none is downloaded: a missing one fails the run. Arguments after
``--`` go to pytest: ``.venv/bin/nox -s tests-3.12 -- -x tests/protocol``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nox

#: Every minor version ``requires-python`` (>=3.10) and the classifiers claim.
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
#: The version the pure-Python fallback runs on (not the main run's 3.11, whose compiled
#: speedup ``make test`` uses: this session removes its version's one from the checkout).
FALLBACK_PYTHON = "3.13"

ROOT = Path(__file__).parent

nox.options.sessions = ["tests", "pure-python"]
nox.options.default_venv_backend = "venv"
nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = True
nox.options.reuse_venv = "no"


def _runs(python: str) -> bool:
    """Whether ``python`` starts (a pyenv shim for a version not selected exits with 127)."""
    try:
        done = subprocess.run([python, "-c", "pass"], capture_output=True, timeout=60)
    except OSError:
        return False
    return done.returncode == 0


def _pyenv_bin(version: str) -> Path | None:
    """The ``bin`` directory of pyenv's newest ``version`` (``3.10`` -> ``3.10.13``), if any."""
    pyenv = shutil.which("pyenv")
    root = os.environ.get("PYENV_ROOT")
    if not root and pyenv:
        found = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=60)
        root = found.stdout.strip()
    versions = Path(root or Path.home() / ".pyenv") / "versions"
    candidates = [
        path
        for path in versions.glob(f"{version}.*")
        if path.name.removeprefix(f"{version}.").isdigit()
        and (path / "bin" / f"python{version}").is_file()
    ]
    if not candidates:
        return None
    newest = max(candidates, key=lambda path: int(path.name.rsplit(".", 1)[1]))
    return newest / "bin"


def _put_interpreters_on_path() -> None:
    """Put pyenv's ``bin`` directories first on ``PATH`` for the versions not found there."""
    extra = []
    for version in PYTHONS:
        on_path = shutil.which(f"python{version}")
        if on_path and _runs(on_path):
            continue
        found = _pyenv_bin(version)
        if found is not None:
            extra.append(str(found))
    if extra:
        os.environ["PATH"] = os.pathsep.join([*extra, os.environ.get("PATH", "")])


_put_interpreters_on_path()


def _install(session: nox.Session, **env: str) -> None:
    """The package, editable with its ``dev`` extra, as ``make install`` installs it."""
    session.install("--upgrade", "pip")
    session.install("-e", ".[dev]", env=env)


def _check_masking(session: nox.Session, *, speedups: bool) -> None:
    """Fail unless the C speedup is (``speedups``) or is not in use, as the tests import it."""
    check = (
        "from wsframework.protocol.masking import SPEEDUPS, xor_mask; "
        f"assert SPEEDUPS is {speedups}, 'wsframework.protocol.masking.SPEEDUPS is ' + "
        "repr(SPEEDUPS); "
        "assert xor_mask(b'abcdef', b'\\x01\\x02\\x03\\x04') == bytes.fromhex('606060606464')"
    )
    session.run("python", "-c", check)


def _pytest(session: nox.Session, **env: str) -> None:
    session.run("python", "-m", "pytest", "-q", *session.posargs, env=env)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The unit and integration tests, with the C speedup compiled for this Python."""
    build = {"WSFRAMEWORK_NO_EXTENSIONS": ""}  # whatever the caller's environment says
    _install(session, **build)
    _check_masking(session, speedups=True)
    _pytest(session, **build)


@nox.session(name="pure-python", python=FALLBACK_PYTHON)
def pure_python(session: nox.Session) -> None:
    """The unit and integration tests with the C speedup absent: pure-Python masking."""
    suffix = session.run(
        "python",
        "-c",
        "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))",
        silent=True,
    )
    assert isinstance(suffix, str) and suffix.strip(), suffix
    # An editable install compiles the extension beside its source, where an earlier
    # tests-3.13 run left it; this session's install adds none (the next tests-3.13 does).
    compiled = ROOT / "wsframework" / f"_speedups{suffix.strip()}"
    compiled.unlink(missing_ok=True)
    no_build = {"WSFRAMEWORK_NO_EXTENSIONS": "1"}  # tests/protocol/test_masking.py reads it too
    _install(session, **no_build)
    assert not compiled.exists(), f"{compiled} was built although WSFRAMEWORK_NO_EXTENSIONS=1"
    _check_masking(session, speedups=False)
    _pytest(session, **no_build)
