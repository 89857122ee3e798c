"""What a request will cost in tokens before it is sent, for the limiter's `--max-tpm`, for
`--max-budget` and for the Batch API's enqueued-token limit: one estimate, learned from the answers
that came back.

Without the teacher's tokenizer at hand, text is counted at `CHARS_PER_TOKEN` characters a token,
the usual rule of thumb for English; every estimate of the project uses this one constant.
"""

from __future__ import annotations

import json
from typing import Any

CHARS_PER_TOKEN = 4
COMPLETION_SHARE = 0.25  # of `max_tokens`: the expected answer length before one has been seen


def text_tokens(characters: int) -> int:
    """About how many tokens `characters` characters (or bytes of JSON) hold."""
    return characters // CHARS_PER_TOKEN


def answer_kind(body: dict[str, Any]) -> str:
    """The schema a request asks for: answers of one kind have similar lengths."""
    return body.get("response_format", {}).get("json_schema", {}).get("name", "")


def prompt_tokens(body: dict[str, Any]) -> int:
    return text_tokens(len(json.dumps(body["messages"])))


class CompletionEstimates:
    """A running mean of the completion tokens of each kind of answer; `COMPLETION_SHARE` of
    `max_tokens` until one of that kind has been seen."""

    def __init__(self, max_tokens: int) -> None:
        self._default = COMPLETION_SHARE * max_tokens
        self._means: dict[str, float] = {}

    def expected(self, kind: str) -> int:
        return int(self._means.get(kind, self._default))

    def learn(self, kind: str, completion_tokens: int) -> None:
        if completion_tokens:
            previous = self._means.get(kind, float(completion_tokens))
            self._means[kind] = 0.8 * previous + 0.2 * completion_tokens
