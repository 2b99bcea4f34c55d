"""The served OpenAPI document reads well (issue 11): an API description, one tag per resource and
no route left untagged, summaries and descriptions in plain text, named response models.

The document is read from the app ``ServiceParts.assemble`` builds (every route the CLI serves),
with and without an API token; whatever routes exist when the test runs are checked, so a new
route that forgets its tag, writes backticks or returns an anonymous list fails here.
"""

from __future__ import annotations

import inspect
import json
from typing import TYPE_CHECKING, Any

import pytest
import trio
from pydantic import BaseModel, RootModel

from dersim_trio.service.run import ServiceParts
from dersim_trio.web.api_docs import TAGS, plain_text

if TYPE_CHECKING:
    from conftest import Kit

METHODS = ("get", "put", "post", "delete", "patch")
BUILTIN_DOCS = [
    inspect.getdoc(t) or ""
    for t in (list, dict, tuple, set, str, int, float, bool, bytes, object, BaseModel, RootModel)
]
"""Docstrings a response description must never show (quart-schema takes a model's docstring;
``list[X]`` has ``list``'s, a model without a docstring inherits pydantic's)."""


async def served_document(kit: type[Kit], *flags: str) -> dict[str, Any]:
    config = kit.make_config("-d", "HybridDC-3Phase", "-N", "2", *flags)
    parts = ServiceParts.assemble(config, kit.FIXED_WALL, trio.current_time())
    async with parts.app.test_app() as app:
        with trio.fail_after(10):
            response = await app.test_client().get("/openapi.json")
            assert response.status_code == 200
            document: dict[str, Any] = json.loads(await response.get_data())
    return document


_DOCUMENTS: dict[tuple[str, ...], dict[str, Any]] = {}
"""Each document is built once per flags (building an app takes about a second)."""


@pytest.fixture(params=[(), ("--api_token", "t0ken")], ids=["open", "token"])
async def document(kit: type[Kit], request: pytest.FixtureRequest) -> dict[str, Any]:
    flags: tuple[str, ...] = request.param
    if flags not in _DOCUMENTS:
        _DOCUMENTS[flags] = await served_document(kit, *flags)
    return json.loads(json.dumps(_DOCUMENTS[flags]))  # a copy: no test sees another's edits


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def texts(node: Any, where: str = "") -> list[tuple[str, str]]:
    """Every summary and description in ``node``, with where it is."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("summary", "description") and isinstance(value, str):
                found.append((f"{where}/{key}", value))
            else:
                found += texts(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += texts(value, f"{where}[{i}]")
    return found


def test_plain_text_drops_code_marks_and_joins_wrapped_lines() -> None:
    assert plain_text(" ``a`` and `b`\nwrap.\n\nNext `c`. ") == "a and b wrap.\n\nNext c."


async def test_the_api_has_a_description(document: dict[str, Any]) -> None:
    description = document["info"]["description"]
    assert len(description) > 200
    assert "404 device_not_found" in description
    assert "413" in description


async def test_every_operation_has_one_declared_tag_and_none_is_default(
    document: dict[str, Any],
) -> None:
    declared = {tag["name"]: tag.get("description", "") for tag in document["tags"]}
    assert list(declared) == list(TAGS)
    assert all(declared.values()), declared
    used = set()
    for method, path, op in operations(document):
        tags = op.get("tags")
        assert tags is not None, (method, path)
        assert len(tags) == 1, (method, path, tags)
        assert tags[0] in declared, (method, path, tags)
        used.add(tags[0])
    assert "default" not in declared
    assert used == set(declared), set(declared) - used  # no tag without routes


async def test_every_operation_has_a_one_sentence_summary(document: dict[str, Any]) -> None:
    for method, path, op in operations(document):
        summary = op.get("summary", "")
        assert summary, (method, path)
        assert "\n" not in summary, (method, path, summary)
        assert summary[0].isupper(), (method, path, summary)
        assert summary.endswith("."), (method, path, summary)
        assert len(summary) <= 100, (method, path, summary)
        description = op.get("description", "")
        assert description == description.strip(), (method, path)
        assert not description[:1].islower() or description.split()[0] in _LOWER_STARTS, (
            method,
            path,
            description[:60],  # a continuation of a summary cut in two would start lowercase
        )


_LOWER_STARTS = frozenset({"category", "device", "null:", "active"})
"""Field names a description may open with (they are lowercase by nature)."""


async def test_no_text_in_the_document_has_backticks_or_markup(document: dict[str, Any]) -> None:
    assert "`" not in json.dumps(document)
    for where, text in texts(document):
        assert "**" not in text, where
        assert ":class:" not in text, where
        assert text == text.strip(), where


async def test_no_response_shows_a_builtin_or_inherited_docstring(
    document: dict[str, Any],
) -> None:
    for where, text in texts(document):
        for builtin in BUILTIN_DOCS:
            first = builtin.splitlines()[0]
            assert first not in text, (where, first)
    for method, path, op in operations(document):
        for status, response in op["responses"].items():
            assert response.get("description"), (method, path, status)


async def test_every_body_is_a_named_model(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for method, path, op in operations(document):
        bodies = [("request", op["requestBody"])] if "requestBody" in op else []
        bodies += list(op["responses"].items())
        for status, body in bodies:
            for media in body.get("content", {}).values():
                ref = media["schema"].get("$ref", "")
                assert ref.startswith("#/components/schemas/"), (method, path, status, media)
                name = ref.rsplit("/", 1)[1]
                assert schemas[name]["title"] == name
                assert schemas[name].get("description"), (method, path, status, name)


async def test_list_answers_are_named_lists_of_named_models(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    lists = {
        ("GET", "/api/dersim/devices"): ("SnapshotList", "Snapshot"),
        ("GET", "/api/dersim/commands"): ("CommandRecordList", "CommandRecord"),
        ("POST", "/api/dersim/commands"): ("CommandRecordList", "CommandRecord"),
        ("PUT", "/api/dersim/inputs"): ("InputsStateList", "InputsState"),
        ("PUT", "/api/dersim/grid-support"): ("GridSupportStateList", "GridSupportState"),
    }
    for method, path, op in operations(document):
        schema = op["responses"].get("200", {}).get("content", {}).get("application/json", {})
        name = schema.get("schema", {}).get("$ref", "/").rsplit("/", 1)[1]
        if schemas.get(name, {}).get("type") == "array":
            assert (method, path) in lists, (method, path, name)
    for (method, path), (list_name, item_name) in lists.items():
        op = document["paths"][path][method.lower()]
        ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ref == f"#/components/schemas/{list_name}"
        assert schemas[list_name]["type"] == "array"
        assert schemas[list_name]["items"] == {"$ref": f"#/components/schemas/{item_name}"}
