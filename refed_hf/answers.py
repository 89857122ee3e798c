"""Turning a teacher's text into a validated pydantic object.

Models wrap JSON in code fences, add a sentence before it, or leave a trailing comma; such minor
damage is repaired (with `json_repair`). A truncated answer is never repaired into a shorter one:
it is rejected, and the caller asks again.
"""

from __future__ import annotations

import json
import re
from typing import TypeVar

import json_repair
from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"^```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)


class InvalidAnswer(Exception):
    """The answer cannot be read as the requested schema; the message says why, for the re-ask."""


def _json_text(text: str) -> str:
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        return fenced.group(1).strip()
    start, end = stripped.find("{"), stripped.rfind("}")
    return stripped[start : end + 1] if 0 <= start < end else stripped


def parse_answer(text: str, schema: type[T], finish_reason: str | None = None) -> T:
    """The answer as an instance of `schema`, or `InvalidAnswer` naming the problem."""
    if finish_reason == "length":
        raise InvalidAnswer("the answer was cut off at the token limit; keep it shorter")
    candidate = _json_text(text)
    try:
        data = json.loads(candidate, strict=False)
    except json.JSONDecodeError:
        data = json_repair.loads(candidate)
        if not isinstance(data, dict) or not data:
            raise InvalidAnswer("the answer is not a JSON object") from None
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the object"
        raise InvalidAnswer(f"field {where}: {first['msg']}") from None
