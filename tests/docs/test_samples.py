"""Every Python sample of the docs and the README runs, complete with its imports.

One test per ```` ```python ```` block (id ``FILE:LINE``): a plain block is executed as a
fresh module named ``docs_sample`` (quickly and offline: servers bind port 0, and
a block that runs something ends by itself); a block marked ``<!-- sample: pytest -->`` is a
test file that pytest runs, and all its tests must pass; a block marked
``<!-- sample: skip, because ... -->`` is only compiled, and the list of those is fixed below.
Some samples are checked more deeply elsewhere (``tests/rooms/test_hub_docs.py``).
"""

from __future__ import annotations

import ast
import sys
import threading
import types
from pathlib import Path

import pytest

from .samples import LANGUAGES, ROOT, Block, all_blocks, blocks, python_blocks

pytest_plugins = ["pytester"]

# The blocks that only compile, with the reason in their marker. Adding one is a decision:
# write it here too.
SKIPPED: frozenset[str] = frozenset()

# A sample must end by itself, and quickly.
DEADLINE = 20

BLOCKS = python_blocks()
RUN = [block for block in BLOCKS if block.kind == "run"]
PYTEST = [block for block in BLOCKS if block.kind == "pytest"]


def ids(blocks: list[Block]) -> list[str]:
    return [block.id for block in blocks]


def test_the_collection_finds_the_samples() -> None:
    files = {block.path.relative_to(ROOT).as_posix() for block in BLOCKS}
    assert {"README.md", "docs/tutorial.md", "docs/testing.md", "docs/rooms.md"} <= files
    assert len(RUN) >= 20 and len(PYTEST) >= 2


def test_every_fence_has_a_known_language() -> None:
    unknown = [
        (block.id, block.language) for block in all_blocks() if block.language not in LANGUAGES
    ]
    assert not unknown, f"use one of {sorted(LANGUAGES)} (```python for code that runs): {unknown}"


def test_every_marker_is_well_formed() -> None:
    malformed = [
        (block.id, block.kind) for block in all_blocks() if block.kind.startswith("malformed")
    ]
    assert not malformed, (
        f'write "<!-- sample: pytest -->" or "<!-- sample: skip, because REASON -->": {malformed}'
    )
    misplaced = [block.id for block in all_blocks() if block.marker and block.language != "python"]
    assert not misplaced, f"a sample marker before a block that is not ```python: {misplaced}"


def test_the_skipped_samples_are_the_known_ones() -> None:
    assert {block.id for block in BLOCKS if block.kind == "skip"} == SKIPPED


def test_the_parser_reads_fences_markers_and_snippets(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Text.\n\n"
        "```python\nprint(1)\n```\n"
        "<!-- sample: pytest -->\n"
        "```python\ndef test_x() -> None:\n    assert True\n```\n"
        "1. A list item:\n\n"
        "    <!-- sample: skip, because it needs a Redis -->\n"
        "    ```python\n    import redis\n    ```\n"
        "````text\n```py\nnot a fence here\n```\n````\n"
        '```py\n--8<-- "apps/__init__.py"\n```\n'
    )
    found = blocks(page)
    assert [(b.line, b.language, b.kind) for b in found] == [
        (3, "python", "run"),
        (7, "python", "pytest"),
        (14, "python", "skip"),
        (17, "text", "run"),
        (22, "py", "run"),
    ]
    assert found[2].code == "import redis\n"
    assert found[3].code == "```py\nnot a fence here\n```\n"
    assert found[4].source() == (ROOT / "apps" / "__init__.py").read_text()
    assert count_tests(found[1].code) == 1


@pytest.mark.parametrize("block", BLOCKS, ids=ids(BLOCKS))
def test_the_sample_compiles(block: Block) -> None:
    compile(block.source(), block.id, "exec")


@pytest.mark.parametrize("block", RUN, ids=ids(RUN))
@pytest.mark.usefixtures("restore_converter_registry")
def test_the_sample_runs(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code = compile(block.source(), block.id, "exec")
    module = types.ModuleType("docs_sample")  # a real module: pydantic resolves names in it
    module.__file__ = str(block.path)
    monkeypatch.setitem(sys.modules, "docs_sample", module)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            exec(code, module.__dict__)
        except BaseException as exc:
            failures.append(exc)

    # In a thread of its own only to bound it: a sample that never ends fails here instead of
    # hanging the suite (the thread is a daemon, left behind).
    thread = threading.Thread(target=run, name=block.id, daemon=True)
    thread.start()
    thread.join(DEADLINE)
    if thread.is_alive():
        pytest.fail(f"{block.id} did not end within {DEADLINE} s: a sample must end by itself")
    if failures:
        raise failures[0]


def count_tests(source: str) -> int:
    """How many tests a sample test file defines (module-level ``test_*`` functions)."""
    return sum(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
        for node in ast.parse(source).body
    )


@pytest.mark.parametrize("block", PYTEST, ids=ids(PYTEST))
def test_the_sample_test_file_passes(
    block: Block, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    source = block.source()
    assert count_tests(source) > 0, f"{block.id} is marked pytest but defines no test"
    pytester.makepyfile(test_sample=source)
    pytester.makeini("[pytest]\ntrio_mode = true\nfilterwarnings = error\n")
    result = pytester.runpytest_subprocess()  # the installed entry point loads the plugin
    result.assert_outcomes(passed=count_tests(source))
