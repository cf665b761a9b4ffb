"""OpenAPI 3.1 documents built from pydantic models, one way for every daemon.

A daemon's JSON answers are described by pydantic models (`Answer`: every key documented,
by the docstring under it, and no other key); their JSON Schemas come from pydantic
(`models_json_schema`), which OpenAPI 3.1 takes as they are. Only the paths, their
parameters and their responses are written by hand, with the helpers here. Tests validate
live answers against the models, so a document cannot drift from what is served.

    doc = document(title="x", version="1.0.0", description="...", models=[Thing, Error],
                   paths={"/things/{name}": {"get": {
                       "operationId": "getThing", "summary": "One thing",
                       "parameters": [path_param("name")],
                       "responses": {"200": ok(Thing, "the thing"),
                                     "404": ok(Error, "no such thing")}}}})
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"


class Answer(BaseModel):
    """An answer: every key documented, no other (a test validates live answers)."""

    # a field's description is the docstring under it
    model_config = ConfigDict(extra="forbid", strict=True, use_attribute_docstrings=True)


class Error(Answer):
    """Why a request was refused."""

    error: str
    """what was wrong"""


class _Schema(GenerateJsonSchema):
    def field_title_should_be_set(self, schema: Any) -> bool:
        return False  # the property's name says it; descriptions carry the meaning


Mode = Literal["validation", "serialization"]


def component_schemas(
    answers: Iterable[type[BaseModel]], requests: Iterable[type[BaseModel]] = ()
) -> dict[str, Any]:
    """Every model (and the ones nested in them) as an OpenAPI component schema, sorted by
    name: `answers` as they are served, `requests` as they are accepted."""
    pairs: list[tuple[type[BaseModel], Mode]] = [(m, "serialization") for m in answers]
    pairs += [(m, "validation") for m in requests]
    _, top = models_json_schema(pairs, ref_template=REF, schema_generator=_Schema)
    return dict(sorted(top.get("$defs", {}).items()))


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def one_of(*models: type[BaseModel]) -> dict[str, Any]:
    """An answer that takes one of several shapes."""
    return {"anyOf": [ref(m) for m in models]}


def ok(answer: type[BaseModel] | dict[str, Any], description: str) -> dict[str, Any]:
    """A response of `answer` (a model, or a schema such as `one_of(...)`) as JSON."""
    schema = ref(answer) if isinstance(answer, type) else answer
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def body(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
    """A JSON request body of `model`."""
    return {"required": required, "content": {"application/json": {"schema": ref(model)}}}


def path_param(name: str, description: str = "") -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": "path", "required": True,
                             "schema": {"type": "string"}}  # fmt: skip
    return param | ({"description": description} if description else {})


def query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}  # fmt: skip


def document(
    *,
    title: str,
    version: str,
    description: str,
    paths: Mapping[str, Any],
    models: Iterable[type[BaseModel]],
    requests: Iterable[type[BaseModel]] = (),
    security_schemes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document: `paths` as given, the models as components."""
    components: dict[str, Any] = {"schemas": component_schemas(models, requests)}
    if security_schemes:
        components["securitySchemes"] = dict(security_schemes)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "paths": dict(paths),
        "components": components,
    }
