"""Checking JSON answers against the schemas of an OpenAPI document (3.0 or 3.1).

Only the subset the API documents use: $ref, allOf, anyOf, type (with 3.0's nullable,
and 3.1's "null"), required, properties, items, minimum/maximum. Every problem is
reported with its path.
"""

from __future__ import annotations

from typing import Any

_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), f"only local $ref supported: {ref}"
        node: Any = doc
        for part in ref[2:].split("/"):
            node = node[part]
        schema = node
    return schema


def problems(doc: dict[str, Any], schema: dict[str, Any], value: Any, path: str = "$") -> list[str]:
    schema = _resolve(doc, schema)
    out: list[str] = []
    if "anyOf" in schema:  # alone with a description in these documents
        tried = [problems(doc, sub, value, path) for sub in schema["anyOf"]]
        if all(tried):
            return [f"{path}: matches none of anyOf: " + "; ".join(p[0] for p in tried)]
        return []
    if value is None:
        if schema.get("nullable") or schema.get("type") == "null":
            return []
        return [f"{path}: null where not nullable"]
    for sub in schema.get("allOf", ()):
        out += problems(doc, sub, value, path)
    kind = schema.get("type")
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{path}: expected integer, got {value!r}"]
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return [f"{path}: expected number, got {value!r}"]
    elif kind is not None and not isinstance(value, _TYPES[kind]):
        return [f"{path}: expected {kind}, got {type(value).__name__}"]
    if "minimum" in schema and value < schema["minimum"]:
        out.append(f"{path}: {value} below {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        out.append(f"{path}: {value} above {schema['maximum']}")
    if kind == "object":
        for key in schema.get("required", ()):
            if key not in value:
                out.append(f"{path}: missing {key!r}")
        props = schema.get("properties", {})
        for key, sub in props.items():
            if key in value:
                out += problems(doc, sub, value[key], f"{path}.{key}")
        extra = set(value) - set(props)
        if props and extra:
            out.append(f"{path}: undocumented keys {sorted(extra)}")
    if kind == "array":
        for i, item in enumerate(value):
            out += problems(doc, schema.get("items", {}), item, f"{path}[{i}]")
    return out


def response_schema(
    doc: dict[str, Any], path: str, status: str = "200", method: str = "get"
) -> dict[str, Any]:
    op = doc["paths"][path][method]
    return op["responses"][status]["content"]["application/json"]["schema"]


def check_answer(doc: dict[str, Any], path: str, model: Any, answer: Any, status: int = 200,
                 method: str = "get") -> None:  # fmt: skip
    """`answer` (the JSON a server gave for `method path` with `status`) is an instance of
    `model` (a pydantic model or TypeAdapter) and of the document's schema for it."""
    validate = getattr(model, "model_validate", None) or model.validate_python
    validate(answer)
    assert problems(doc, response_schema(doc, path, str(status), method), answer) == [], (
        f"{method.upper()} {path} {status}")


SPOILS = ("extra key", "missing key", "wrong type", "null")


def spoil(row: dict[str, Any], how: str, key: str, wrong: Any) -> None:
    """Make `row` wrong in one way of SPOILS, at `key` (`wrong`: a value of another type)."""
    if how == "extra key":
        row["secret"] = 1
    elif how == "missing key":
        del row[key]
    elif how == "wrong type":
        row[key] = wrong
    else:
        row[key] = None
