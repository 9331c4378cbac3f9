"""What every part of the command line shares: the user error and the status line."""

from __future__ import annotations

import os
import sys

PROG = "wsframework"


class CLIError(Exception):
    """A user error: reported as one line (``wsframework: error: ...``), exit status 1."""


#: What a timeout flag takes to turn the timeout off (``--send-timeout off``).
OFF = "off"


def seconds(text: str) -> float | None:
    """A timeout flag's value (an ``argparse`` type): seconds, or ``off`` for ``None``.

    Raises:
        ValueError: neither a number nor ``off`` (argparse reports it as an invalid value).
    """
    if text.strip().lower() in (OFF, "none"):
        return None
    return float(text)


def seconds_text(value: float | None) -> str:
    """The flag value that :func:`seconds` reads back as ``value``."""
    return OFF if value is None else repr(value)


def _say(message: str) -> None:
    """A status line on stderr (startup, shutdown, workers): always shown."""
    # One write: lines from several workers sharing the stream must not interleave.
    sys.stderr.write(f"{PROG}: {message}\n")
    sys.stderr.flush()


def _display_path(path: str) -> str:
    """Relative to the current directory when inside it, else as it is."""
    cwd = os.getcwd()
    if os.path.isabs(path) and os.path.commonpath([cwd, path]) == cwd:
        return os.path.relpath(path, cwd)
    return path


def _add_app_dir(app_dir: str) -> None:
    path = os.path.abspath(app_dir)
    if path not in sys.path:
        sys.path.insert(0, path)
