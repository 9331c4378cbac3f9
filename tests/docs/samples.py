"""The code samples of the docs: every fenced block of ``docs/**/*.md`` and ``README.md``.

A block is a fence (```` ```LANG ```` ... ```` ``` ````) at any indentation. The line just
before a ```` ```python ```` fence may say how the block runs:

- nothing: a complete program, executed as a module named ``docs_sample``;
- ``<!-- sample: pytest -->``: a pytest test file, run by pytest;
- ``<!-- sample: skip, because REASON -->``: compiled only (the runner lists these).

A line ``--8<-- "PATH"`` (pymdownx.snippets, as the site builds it) stands for the file at
PATH, relative to the repository root.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[2]

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,}|~{3,})(?P<info>.*)$")
MARKER = re.compile(r"^<!--\s*sample:\s*(?P<what>.*?)\s*-->$")
SNIPPET = re.compile(r'^--8<--\s+"(?P<path>[^"]+)"\s*$')

# The fence languages the docs may use. Python is run; the others are shown as they are. A
# ```py or ```python3 fence would slip past the runner, so it fails the collection instead.
LANGUAGES = frozenset(
    {
        "python",
        "sh",
        "console",
        "json",
        "text",
        "toml",
        "yaml",
        "ini",
        "html",
        "js",
        "javascript",
        "http",
        "nginx",
    }
)


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its marker and its code."""

    path: Path
    line: int  # the fence's line, 1-based
    language: str
    marker: str | None  # the text of a ``<!-- sample: ... -->`` line just before the fence
    code: str

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"

    @property
    def kind(self) -> str:
        """``"run"``, ``"pytest"`` or ``"skip"``; anything else is a malformed marker."""
        if self.marker is None:
            return "run"
        if self.marker == "pytest":
            return "pytest"
        if re.fullmatch(r"skip, because \S.*", self.marker):
            return "skip"
        return f"malformed: {self.marker!r}"

    def source(self) -> str:
        """The code with each snippet line replaced by the file it names."""
        lines = []
        for line in self.code.splitlines(keepends=True):
            snippet = SNIPPET.match(line.strip())
            lines.append((ROOT / snippet["path"]).read_text() if snippet else line)
        return "".join(lines)


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of one Markdown file, in order."""
    found: list[Block] = []
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, ticks = opening["indent"], opening["ticks"]
        language = opening["info"].strip().split(" ")[0].lower()
        previous = lines[index - 1].strip() if index else ""
        marker = MARKER.match(previous)
        body: list[str] = []
        end = index + 1
        while end < len(lines):
            closing = FENCE.match(lines[end])
            if closing and closing["ticks"].startswith(ticks) and not closing["info"].strip():
                break
            body.append(lines[end][len(indent) :] if lines[end].startswith(indent) else lines[end])
            end += 1
        else:
            raise ValueError(f"{path}:{index + 1}: the fence is never closed")
        found.append(
            Block(
                path,
                index + 1,
                language,
                marker["what"] if marker else None,
                "\n".join(body) + "\n",
            )
        )
        index = end + 1
    return found


def all_blocks() -> list[Block]:
    return [block for path in markdown_files() for block in blocks(path)]


def python_blocks() -> list[Block]:
    return [block for block in all_blocks() if block.language == "python"]
