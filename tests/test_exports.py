"""The public API: ``wsframework.__all__``, the exception tree, and the compat module's names."""

from __future__ import annotations

import importlib
import pkgutil
import types

import trio_websocket

import wsframework
from wsframework import exceptions
from wsframework.compat import trio_websocket as compat


def library_modules() -> list[types.ModuleType]:
    """Every module of the package, imported (the command line's included)."""
    names = [
        info.name
        for info in pkgutil.walk_packages(wsframework.__path__, "wsframework.")
        if info.name != "wsframework._speedups"  # the C extension: no classes to check
    ]
    return [wsframework, *(importlib.import_module(name) for name in names)]


def test_all_is_a_sorted_list_naming_each_name_once() -> None:
    names = wsframework.__all__
    assert isinstance(names, list)
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert duplicates == [], f"listed more than once in wsframework.__all__: {duplicates}"
    assert names == sorted(names), "keep wsframework.__all__ in sorted order"


def test_every_listed_name_is_importable() -> None:
    namespace: dict[str, object] = {}
    exec("from wsframework import *", namespace)
    missing = [name for name in wsframework.__all__ if name not in namespace]
    assert missing == [], f"listed in wsframework.__all__ but not importable: {missing}"
    for name in wsframework.__all__:
        assert namespace[name] is getattr(wsframework, name)


def test_nothing_public_is_unlisted() -> None:
    submodules = {
        name
        for name, value in vars(wsframework).items()
        if isinstance(value, types.ModuleType) and value.__name__ == f"wsframework.{name}"
    }
    public = {name for name in vars(wsframework) if not name.startswith("_")}
    unlisted = sorted(public - submodules - set(wsframework.__all__))
    assert unlisted == [], f"public in wsframework but missing from __all__: {unlisted}"
    assert "__version__" in wsframework.__all__


def test_every_exception_is_exported_at_the_top() -> None:
    not_exported = sorted(set(exceptions.__all__) - set(wsframework.__all__))
    assert not_exported == [], f"exceptions missing from wsframework.__all__: {not_exported}"
    for name in exceptions.__all__:
        assert getattr(wsframework, name) is getattr(exceptions, name)


def test_every_exception_class_descends_from_websocket_error() -> None:
    defined = [
        value
        for value in vars(exceptions).values()
        if isinstance(value, type) and issubclass(value, BaseException)
    ]
    assert len(defined) >= len(exceptions.__all__)
    outside = [cls.__name__ for cls in defined if not issubclass(cls, exceptions.WebSocketError)]
    assert outside == [], f"exceptions outside the WebSocketError tree: {outside}"
    assert sorted(cls.__name__ for cls in defined) == sorted(exceptions.__all__)


def test_the_library_defines_exceptions_only_in_the_exceptions_module() -> None:
    # The command line is an application of the library: its user error (CLIError) and its
    # early-signal unwinding (Interrupted) are not part of the API and stay in wsframework.cli.
    # The compat module is trio-websocket's API: its ConnectionRejected (a subclass of ours with
    # trio-websocket's str()) belongs to that API, not to wsframework's.
    elsewhere = sorted(
        f"{module.__name__}.{name}"
        for module in library_modules()
        if module is not exceptions
        and not module.__name__.startswith(("wsframework.cli", "wsframework.compat"))
        for name, value in vars(module).items()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__ == module.__name__
    )
    assert elsewhere == [], f"define these in wsframework.exceptions: {elsewhere}"


def test_compat_lists_exactly_trio_websockets_public_names() -> None:
    theirs = sorted(name for name in dir(trio_websocket) if not name.startswith("_"))
    assert trio_websocket.__version__ == "0.12.2"
    assert sorted(compat.__all__) == theirs
    assert len(compat.__all__) == len(set(compat.__all__))
    namespace: dict[str, object] = {}
    exec("from wsframework.compat.trio_websocket import *", namespace)
    assert set(theirs) <= set(namespace)
    assert compat.__version__ == trio_websocket.__version__
