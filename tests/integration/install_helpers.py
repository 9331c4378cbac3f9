"""The harness for ``tests/integration/test_install.py``: building the distributions as
``make dist`` does, and a fresh virtualenv outside the repository with one wheel installed in it.

The fresh virtualenv has no pip and asks no package index: ``pip --python`` (the suite's own pip)
installs the wheel into it, not editable and without dependencies, and a ``.pth`` line makes it
see a directory of links to the distributions the wheel requires (its ``Requires-Dist``, with
their own requirements), taken from the environment running the tests. So the install test runs
offline and in seconds, and ``pip check`` in the fresh virtualenv confirms that what the wheel
declares is what it got.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from email.parser import Parser
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 120


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess that must not see the checkout: no PYTHONPATH (the
    suite's runs set it to the checkout), no MYPYPATH, and no WSFRAMEWORK_NO_EXTENSIONS (set
    for the whole run by noxfile.py's pure-python session): a build makes the C speedup unless
    ``extra`` says otherwise."""
    hidden = ("PYTHONPATH", "MYPYPATH", "WSFRAMEWORK_NO_EXTENSIONS")
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    env.update(extra)
    return env


def run(args: list[str | Path], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in ``cwd`` with :func:`clean_env`; the output is captured as text."""
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def build(args: list[str | Path], cwd: Path, **env: str) -> str:
    """Run the suite's Python with ``args`` (``-m build ...`` or ``-m pip wheel ...``) in
    ``cwd``; returns the output after checking that it succeeded."""
    built = run([sys.executable, *args], cwd, **env)
    output = built.stdout + built.stderr
    assert built.returncode == 0, output[-3000:]
    return output


def warnings_in(output: str) -> list[str]:
    """The lines of a build's ``output`` that warn, except pip's complaints about this
    machine's index configuration (``Location 'file:...' is ignored``)."""
    return [
        line
        for line in output.splitlines()
        if ("warning" in line.lower() or "deprecat" in line.lower())
        and "Location 'file:" not in line
        and "byte-compiling is disabled" not in line  # PYTHONDONTWRITEBYTECODE in the env
    ]


def _requirements(metadata: list[str], extras: frozenset[str]) -> list[Requirement]:
    """The ``Requires-Dist`` entries that apply to this Python with ``extras`` requested."""
    applying = []
    for line in metadata:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": e}) for e in ("", *extras)):
            applying.append(requirement)
    return applying


def _link_dependencies(
    wheel: Path, extras: frozenset[str], also: tuple[str, ...], into: Path
) -> None:
    """Link the top-level files of every installed distribution ``wheel`` needs, and of the
    distributions ``also`` names (with theirs), into ``into``."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(name).decode())
    pending = _requirements(metadata.get_all("Requires-Dist") or [], extras)
    pending += [Requirement(name) for name in also]
    seen: set[str] = set()
    while pending:
        requirement = pending.pop()
        key = canonicalize_name(requirement.name)
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = distribution(requirement.name)
        except PackageNotFoundError:  # pragma: no cover - the dev extra installs them all
            raise AssertionError(f"{requirement.name} is not installed where tests run") from None
        assert dist.version in requirement.specifier, f"{requirement} but {dist.version}"
        pending += _requirements(dist.requires or [], frozenset(requirement.extras))
        for top in {Path(str(f)).parts[0] for f in dist.files or []} - {"..", "__pycache__"}:
            link = into / top
            if not link.exists():
                link.symlink_to(Path(str(dist.locate_file(top))).resolve())


def fresh_venv(
    root: Path, wheel: Path, extras: frozenset[str] = frozenset(), also: tuple[str, ...] = ()
) -> Path:
    """A virtualenv at ``root/venv`` with ``wheel`` installed (not editable), the dependencies
    it declares (with ``extras``) and the distributions ``also`` names (what a user installs
    beside it, e.g. pytest) linked in; returns its ``bin`` directory."""
    venv = root / "venv"
    created = run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=root)
    assert created.returncode == 0, created.stderr
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    installed = run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--no-compile",
            wheel,
        ],
        cwd=root,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], root)
    deps = root / "deps"
    deps.mkdir()
    _link_dependencies(wheel, extras, also, deps)
    Path(purelib.stdout.strip(), "_wsframework_test_deps.pth").write_text(f"{deps}\n")
    return bin_dir
