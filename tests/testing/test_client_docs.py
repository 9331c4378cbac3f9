"""The two example test files of docs/testing.md pass, run by pytest as a user's suite would
run them (the first through the plugin's fixture)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parents[2]


def samples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "testing.md").read_text(), re.S)


def test_the_samples_are_the_ones_run_here() -> None:
    names = [sample.splitlines()[0] for sample in samples()]
    assert names == [
        "# test_chat.py  (pytest.ini / pyproject: trio_mode = true)",
        "# test_rooms.py",
    ]


def test_the_example_test_files_pass(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    chat, rooms = samples()
    pytester.makepyfile(test_chat=chat, test_rooms=rooms)
    pytester.makeini("[pytest]\ntrio_mode = true\nfilterwarnings = error\n")
    result = pytester.runpytest_subprocess()  # the installed entry point loads the plugin
    result.assert_outcomes(passed=6)
