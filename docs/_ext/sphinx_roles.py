"""A Griffe extension for the API reference: our docstrings use Google sections with Sphinx
roles (``:class:`~wsframework.App```) and reST literal blocks (``::``). mkdocstrings renders
docstrings as Markdown, where those would show as they are written; this turns each role into
inline code (the last dotted part after ``~``, the link text of ``text <target>``) and a
paragraph's closing ``::`` into ``:`` (the indented block after it is a Markdown code block)."""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|meth|func|mod|attr|data|exc|obj|const):`([^`]+)`")


def _code(match: re.Match[str]) -> str:
    target = match[1].strip()
    titled = re.fullmatch(r"(.+?)\s*<[^>]+>", target)
    if titled:
        target = titled[1]
    elif target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return f"`{target}`"


def convert(text: str) -> str:
    """The docstring with Sphinx roles as inline code and ``::`` as ``:``."""
    text = ROLE.sub(_code, text)
    lines = []
    for line in text.splitlines():
        if line.strip() == "::":
            continue
        lines.append(line[:-1] if line.endswith("::") else line)
    return "\n".join(lines)


class SphinxRoles(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
