"""`datasets.Features` and strict JSON schemas derived from the pydantic models."""

from __future__ import annotations

import copy
import types
import typing
from typing import Any, Union, get_args, get_origin

import datasets
from pydantic import BaseModel

from .schemas import JudgeColumn, PreferenceExample, Record, ReferenceFeedback, SftExample


def _feature_of(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin is list:
        (inner,) = get_args(annotation)
        return datasets.List(_feature_of(inner))
    if origin is typing.Literal:
        return datasets.Value("string")
    if origin in (Union, types.UnionType):
        raise TypeError(f"optional fields are not part of the release schema: {annotation}")
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {name: _feature_of(field.annotation) for name, field in annotation.model_fields.items()}
    scalar = {str: "string", int: "int64", float: "float64", bool: "bool"}.get(annotation)
    if scalar is None:
        raise TypeError(f"no datasets feature for {annotation!r}")
    return datasets.Value(scalar)


def features_of(model: type[BaseModel]) -> datasets.Features:
    """The declared Features of a release table, field for field as the pydantic model has them."""
    return datasets.Features({name: _feature_of(f.annotation) for name, f in model.model_fields.items()})


RECORD_FEATURES = features_of(Record)
FEEDBACK_FEATURES = features_of(ReferenceFeedback)
SFT_FEATURES = features_of(SftExample)
PREFERENCE_FEATURES = features_of(PreferenceExample)
JUDGE_COLUMN = "judge"
# Config `default` of a judged release: the records with the judge's verdict as one struct column.
JUDGED_RECORD_FEATURES = datasets.Features({**RECORD_FEATURES, JUDGE_COLUMN: dict(features_of(JudgeColumn))})


def _tighten(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("title", None)
        node.pop("default", None)
        if node.get("type") == "object" and "properties" in node:
            node["additionalProperties"] = False
            node["required"] = list(node["properties"])
        for value in node.values():
            _tighten(value)
    elif isinstance(node, list):
        for value in node:
            _tighten(value)


def teacher_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A JSON schema in the strict form OpenAI structured outputs accept: every field required,
    no extra properties, nested models inlined."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]]))
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    schema = inline(schema)
    _tighten(schema)
    return schema
