"""Close codes and CloseReason (wsframework.protocol.close): standard library only, no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from wsproto.frame_protocol import CloseReason as WsprotoCode

from wsframework import CloseReason
from wsframework.protocol import close
from wsframework.protocol.close import check_close_code


def test_the_module_imports_only_the_standard_library() -> None:
    # The ASGI transport uses close codes and must not load wsproto through this module.
    imported: set[str] = set()
    for node in ast.walk(ast.parse(Path(str(close.__file__)).read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert imported == {"__future__"}


# --- check_close_code -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1014, 3000, 3999, 4000, 4999]
)
def test_sendable_close_codes(code: int) -> None:
    assert check_close_code(code) is None


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, -1])
def test_unsendable_close_codes(code: int) -> None:
    with pytest.raises(ValueError, match="cannot be sent"):
        check_close_code(code)


def test_exactly_the_sendable_codes_pass_across_the_whole_range() -> None:
    sendable = {code for code in range(-1, 6001) if _sends(code)}
    assert sendable == {*range(1000, 1004), *range(1007, 1015), *range(3000, 5000)}


def _sends(code: int) -> bool:
    try:
        check_close_code(code)
    except ValueError:
        return False
    return True


def test_the_refusal_is_a_sentence_naming_the_code_and_the_ranges() -> None:
    with pytest.raises(ValueError) as info:
        check_close_code(1005)
    assert (
        str(info.value) == "close code 1005 cannot be sent: use 1000-1003, 1007-1014 or 3000-4999"
    )


@pytest.mark.parametrize("code", [True, "1000", 1000.0, None])
def test_close_code_type(code: object) -> None:
    with pytest.raises(TypeError, match=f"close code must be an int, not {type(code).__name__}"):
        check_close_code(code)  # type: ignore[arg-type]


# --- CloseReason ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (1000, "NORMAL_CLOSURE"),
        (1002, "PROTOCOL_ERROR"),
        (1006, "ABNORMAL_CLOSURE"),
        (1009, "MESSAGE_TOO_BIG"),
        (1004, "RFC_RESERVED"),
        (1014, "RFC_RESERVED"),
        (1016, "RFC_RESERVED"),
        (2500, "RFC_RESERVED"),
        (2999, "RFC_RESERVED"),
        (3000, "IANA_RESERVED"),
        (3999, "IANA_RESERVED"),
        (4000, "PRIVATE_RESERVED"),
        (4999, "PRIVATE_RESERVED"),
        (5000, "INVALID_CODE"),
        (999, "INVALID_CODE"),
        (0, "INVALID_CODE"),
        (-1, "INVALID_CODE"),
    ],
)
def test_close_reason_names(code: int, name: str) -> None:
    assert CloseReason(code, None).name == name


def test_names_are_wsprotos_for_every_code_it_names() -> None:
    # The table replaced a lookup in wsproto's enum (what trio-websocket shows): same names.
    for code in WsprotoCode:
        assert CloseReason(code.value, None).name == code.name
    assert set(close._NAMES) == {code.value for code in WsprotoCode}


def test_close_reason_value_semantics() -> None:
    a = CloseReason(1000, "bye")
    assert a == CloseReason(1000, "bye")
    assert a != CloseReason(1000, None)
    assert a != CloseReason(1001, "bye")
    assert len({a, CloseReason(1000, "bye")}) == 1
    assert (a == "x") is False
    assert (a.code, a.reason) == (1000, "bye")
    assert repr(a) == str(a) == "CloseReason<code=1000, name=NORMAL_CLOSURE, reason=bye>"
    assert type(CloseReason(WsprotoCode.GOING_AWAY, None).code) is int
    with pytest.raises(AttributeError):
        a.code = 1001  # type: ignore[misc]
    with pytest.raises(AttributeError):
        a.extra = 1  # type: ignore[attr-defined]  # __slots__: no stray attributes


def test_the_reason_is_kept_whole() -> None:
    # A CloseReason describes a closure; cutting a reason to the 123 bytes a close frame can
    # carry is the sender's job (wsproto truncates on send), so a local reason stays whole.
    long = "é" * 200
    reason = CloseReason(1011, long)
    assert reason.reason == long
    assert repr(reason) == f"CloseReason<code=1011, name=INTERNAL_ERROR, reason={long}>"
    assert repr(CloseReason(4000, "")) == "CloseReason<code=4000, name=PRIVATE_RESERVED, reason=>"
