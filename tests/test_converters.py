"""Path converters and their registry (wsframework.converters): pure functions, no I/O.

How templates use converters (matching, URL building through routes) is in test_routing.py;
here each converter is called directly, and register_converter's checks are exercised.
"""

from __future__ import annotations

import ast
import math
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsframework import converters
from wsframework.converters import (
    FloatConverter,
    IntConverter,
    PathConverter,
    RouteDefinitionError,
    StringConverter,
    UUIDConverter,
    register_converter,
    registered_converters,
)

pytestmark = pytest.mark.usefixtures("restore_converter_registry")


class SlugConverter:
    regex = "[a-z0-9]+(?:-[a-z0-9]+)*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: Any) -> str:
        return str(value)


def test_module_imports_the_standard_library_and_the_exceptions_only() -> None:
    imported: set[str] = set()
    for node in ast.walk(ast.parse(Path(str(converters.__file__)).read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert imported == {
        "__future__",
        "re",
        "types",
        "uuid",
        "collections.abc",
        "decimal",
        "typing",
        ".exceptions",
    }


# --- the built-in converters, called directly ----------------------------------------------

BUILTINS = {
    "str": StringConverter,
    "int": IntConverter,
    "float": FloatConverter,
    "uuid": UUIDConverter,
    "path": PathConverter,
}


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_regexes_compile_without_named_groups(name: str) -> None:
    converter = registered_converters()[name]
    assert type(converter) is BUILTINS[name]
    assert re.compile(converter.regex).groupindex == {}


def test_string_converter_is_the_identity() -> None:
    converter = StringConverter()
    assert converter.convert("caf\u00e9") == "caf\u00e9"
    assert converter.to_string(42) == "42"
    assert re.fullmatch(converter.regex, "a/b") is None
    assert re.fullmatch(converter.regex, "") is None


def test_path_converter_is_a_string_converter_taking_slashes_and_nothing() -> None:
    converter = PathConverter()
    assert isinstance(converter, StringConverter)
    assert re.fullmatch(converter.regex, "a/b/c", re.DOTALL)
    assert re.fullmatch(converter.regex, "")
    assert converter.convert("a/b") == converter.to_string("a/b") == "a/b"


def test_int_converter() -> None:
    converter = IntConverter()
    assert converter.convert("007") == 7
    assert converter.to_string(7) == converter.to_string("007") == "7"
    with pytest.raises(ValueError) as info:
        converter.to_string(-3)
    assert str(info.value) == "negative integer -3 cannot be in an int path parameter"
    with pytest.raises(ValueError):
        converter.to_string("seven")


@pytest.mark.parametrize("value", [-0.5, math.nan, math.inf, -math.inf])
def test_float_converter_refuses_what_its_regex_cannot_match(value: float) -> None:
    with pytest.raises(ValueError, match="cannot be in a float path parameter"):
        FloatConverter().to_string(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0.0"),
        (1, "1.0"),
        (0.1, "0.1"),
        (1e22, "10000000000000000000000"),
        (1e-7, "0.0000001"),
    ],
)
def test_float_converter_writes_plain_decimal(value: float, text: str) -> None:
    assert FloatConverter().to_string(value) == text


@given(st.floats(min_value=0, allow_nan=False, allow_infinity=False))
def test_float_to_string_round_trips_through_the_regex(value: float) -> None:
    converter = FloatConverter()
    text = converter.to_string(value)
    assert re.fullmatch(converter.regex, text)
    assert converter.convert(text) == value


def test_uuid_converter() -> None:
    converter = UUIDConverter()
    value = uuid.UUID("12345678-1234-5678-1234-567812345678")
    upper = str(value).upper()
    assert re.fullmatch(converter.regex, upper)
    assert converter.convert(upper) == value
    assert converter.to_string(value) == converter.to_string(upper) == str(value)
    with pytest.raises(ValueError):
        converter.to_string("not-a-uuid")
    assert re.fullmatch(converter.regex, value.hex) is None  # only the 8-4-4-4-12 form


# --- the registry ---------------------------------------------------------------------------


def test_all_builtin_converters_are_registered() -> None:
    registry = registered_converters()
    assert set(registry) >= {"str", "int", "float", "uuid", "path"}
    with pytest.raises(TypeError):
        registry["x"] = registry["str"]  # type: ignore[index]


def test_registering_the_same_converter_twice_is_a_no_op() -> None:
    converter = SlugConverter()
    register_converter("t_twice", converter)
    register_converter("t_twice", converter)
    assert registered_converters()["t_twice"] is converter


@pytest.mark.parametrize("name", ["str", "int", "float", "uuid", "path"])
def test_builtin_converters_cannot_be_replaced(name: str) -> None:
    before = registered_converters()[name]
    with pytest.raises(
        RouteDefinitionError, match=f"converter name '{name}' is already registered"
    ):
        register_converter(name, SlugConverter())
    assert registered_converters()[name] is before


def test_custom_name_cannot_be_taken_twice() -> None:
    register_converter("t_taken", SlugConverter())
    with pytest.raises(RouteDefinitionError, match="already registered"):
        register_converter("t_taken", SlugConverter())


@pytest.mark.parametrize("name", ["", "my-conv", "1x", "a b", "a:b", "a}"])
def test_converter_name_must_be_an_identifier(name: str) -> None:
    with pytest.raises(RouteDefinitionError, match="is not a Python identifier"):
        register_converter(name, SlugConverter())
    assert name not in registered_converters()


def test_converter_class_instead_of_instance() -> None:
    with pytest.raises(TypeError, match=r"pass SlugConverter\(\)"):
        register_converter("t_class", SlugConverter)  # type: ignore[arg-type]


def test_converter_shape_is_checked() -> None:
    class NoRegex:
        def convert(self, value: str) -> str:
            return value

        def to_string(self, value: Any) -> str:
            return str(value)

    class BytesRegex(SlugConverter):
        regex = b"[a-z]+"  # type: ignore[assignment]

    class NoToString:
        regex = "x"

        def convert(self, value: str) -> str:
            return value

    with pytest.raises(TypeError, match="needs a string attribute 'regex'"):
        register_converter("t_noregex", NoRegex())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs a string attribute 'regex'"):
        register_converter("t_bytesregex", BytesRegex())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"needs a method to_string\(\)"):
        register_converter("t_notostring", NoToString())  # type: ignore[arg-type]
    assert not {"t_noregex", "t_bytesregex", "t_notostring"} & set(registered_converters())


def test_converter_regex_is_checked() -> None:
    class Broken(SlugConverter):
        regex = "[a-z"

    class Named(SlugConverter):
        regex = "(?P<year>[0-9]+)"

    with pytest.raises(RouteDefinitionError, match="invalid regex '\\[a-z'"):
        register_converter("t_broken", Broken())
    with pytest.raises(RouteDefinitionError, match="must not contain named groups \\(year\\)"):
        register_converter("t_named", Named())
    assert not {"t_broken", "t_named"} & set(registered_converters())


def test_float_to_string_of_an_int_too_large_for_a_float_is_a_value_error() -> None:
    """Found by fuzzing (fuzz/routing_targets.py): it was an OverflowError, which url_path_for
    let through instead of NoMatchFound."""
    with pytest.raises(ValueError, match="too large for a float path parameter"):
        FloatConverter().to_string(10**400)
