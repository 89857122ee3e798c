"""What a request will cost in tokens before it is sent, for the limiter's `--max-tpm` and for
`--max-budget`: one estimate, learned from the answers that came back."""

from __future__ import annotations

import json
from typing import Any


def answer_kind(body: dict[str, Any]) -> str:
    """The schema a request asks for: answers of one kind have similar lengths."""
    return body.get("response_format", {}).get("json_schema", {}).get("name", "")


def prompt_tokens(body: dict[str, Any]) -> int:
    """About 4 characters a token."""
    return len(json.dumps(body["messages"])) // 4


class CompletionEstimates:
    """A running mean of the completion tokens of each kind of answer; a quarter of `max_tokens`
    until one of that kind has been seen."""

    def __init__(self, max_tokens: int) -> None:
        self._default = 0.25 * max_tokens
        self._means: dict[str, float] = {}

    def expected(self, kind: str) -> int:
        return int(self._means.get(kind, self._default))

    def learn(self, kind: str, completion_tokens: int) -> None:
        if completion_tokens:
            previous = self._means.get(kind, float(completion_tokens))
            self._means[kind] = 0.8 * previous + 0.2 * completion_tokens
