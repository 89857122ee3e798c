"""Turning a teacher's text into a validated pydantic object.

Models wrap JSON in code fences, add a sentence around it, leave a trailing comma or put raw line
breaks in strings; such minor damage is tolerated. Anything else (an unclosed string or object, a
truncated answer) is rejected rather than guessed at, so a cut-off text never becomes a record:
the caller asks again.
"""

from __future__ import annotations

import json
import re
from typing import TypeVar

from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"^```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


class InvalidAnswer(Exception):
    """The answer cannot be read as the requested schema; the message says why, for the re-ask.

    `reason` is the failure counted in the manifest if the re-asks do not fix it.
    """

    def __init__(self, message: str, reason: str = "invalid_answer") -> None:
        super().__init__(message)
        self.reason = reason


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
        try:
            data = json.loads(_TRAILING_COMMA.sub(r"\1", candidate), strict=False)
        except json.JSONDecodeError as exc:
            raise InvalidAnswer(f"the answer is not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(data, dict):
        raise InvalidAnswer("the answer is not a JSON object")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the object"
        raise InvalidAnswer(f"field {where}: {first['msg']}") from None
