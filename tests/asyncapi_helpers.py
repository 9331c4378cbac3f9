"""The official AsyncAPI 3.0.0 JSON Schema, from npm's ``@asyncapi/specs``, as a validator.

The schema is not written here: ``tests/asyncapi_schema/package.json`` pins the package and
``npm ci`` there (``make install`` runs it) installs it under ``node_modules``. Without it the
tests that validate fail, saying how to install it.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

SCHEMA_DIR = Path(__file__).parent / "asyncapi_schema"
SCHEMA_FILE = SCHEMA_DIR / "node_modules" / "@asyncapi" / "specs" / "schemas" / "3.0.0.json"
INSTALL = "npm ci --prefix tests/asyncapi_schema (make install runs it)"


@functools.cache
def _validator() -> Draft7Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    # The definitions carry their own $id (http://asyncapi.com/definitions/3.0.0/...): crawling
    # the resource registers each of them, so every $ref resolves without the network.
    resource = Resource.from_contents(schema, default_specification=DRAFT7)
    registry = Registry().with_resource(schema["$id"], resource).crawl()
    return Draft7Validator(schema, registry=registry)


def asyncapi_validator() -> Draft7Validator:
    """The validator of AsyncAPI 3.0.0 documents; fails the test when the schema is missing."""
    if not SCHEMA_FILE.is_file():
        pytest.fail(
            f"the official AsyncAPI 3.0.0 JSON Schema is not installed ({SCHEMA_FILE} is "
            f"missing): run {INSTALL}",
            pytrace=False,
        )
    return _validator()


def asyncapi_errors(document: Any) -> list[str]:
    """Why ``document`` is not a valid AsyncAPI 3.0.0 document (``[]`` when it is): each error
    as ``/json/pointer: message``."""
    errors = sorted(asyncapi_validator().iter_errors(document), key=lambda e: list(e.path))
    return ["/" + "/".join(str(p) for p in error.path) + ": " + error.message for error in errors]


def dangling_refs(document: Any) -> list[str]:
    """The local ``$ref``s (``#/...``) of ``document`` that point at nothing, in document order
    (the JSON Schema checks their form, not their target)."""
    found: list[str] = []

    def resolves(ref: str) -> bool:
        node: Any = document
        for token in ref[2:].split("/") if ref != "#" else []:
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            elif isinstance(node, dict) and token in node:
                node = node[token]
            else:
                return False
        return True

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#") and not resolves(ref):
                found.append(ref)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return found
