"""Unwrapping the exception groups trio's nurseries raise, where one exception is meant."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, NoReturn

import trio

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = ["raise_single"]


def raise_single(group: BaseExceptionGroup[Any]) -> NoReturn:
    """Re-raise the one meaningful exception of a nursery's group, unwrapped."""
    leaves = [e for e in _leaves(group) if not isinstance(e, trio.Cancelled)]
    if not leaves:
        leaves = list(_leaves(group))
    if len(leaves) == 1:
        exc = leaves[0]
        context = exc.__context__
        try:
            raise exc
        finally:
            exc.__context__ = context
            del exc, context
    raise group


def _leaves(group: BaseExceptionGroup[Any]) -> Iterable[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc
