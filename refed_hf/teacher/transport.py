"""The seam between `Teacher.ask` and the wire: one `Transport` answers the calls the cache could not.

A transport is chosen once, when the teacher is built: `DirectTransport` (one HTTP request per call),
`BatchTransport` (the Batch API), or `BudgetGuard` around either. The teacher only ever awaits
`transport.send(call)`; whatever the transport, the answer it returns has been paid for, and the
teacher stores it before using it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from openai.types.chat import ChatCompletion

from .accounting import CallCounts
from .cache import CachedAnswer


@dataclass(frozen=True)
class Call:
    """One request the cache had no answer for, with the stage's counters it is charged to."""

    body: dict[str, Any]
    counts: CallCounts
    key: str  # the cache key of the request
    stage: str
    identity: str


class Transport(Protocol):
    async def send(self, call: Call) -> CachedAnswer:
        """The answer to `call`, or the exception that ends it (after the transport's own retries)."""
        ...


# More tokens than any model's context for one call: a count beyond it is not a bill, it is a bug or a lie.
MAX_CALL_TOKENS = 10_000_000
# The finish reason of an answer whose usage cannot be true: it is a failed item, never a record.
BAD_USAGE = "bad_usage"


def answer_of(completion: ChatCompletion) -> CachedAnswer:
    """The part of a chat completion the cache keeps: text, finish reason and usage.

    Usage that cannot be true (negative, absurdly large, more cached than prompt tokens) would turn
    the budget and the card's cost into nonsense: such an answer is kept as a bad answer (finish reason
    `bad_usage`, no tokens), which the teacher counts as a failure and the budget charges at its estimate."""
    choice = completion.choices[0]
    usage = completion.usage
    prompt_tokens = usage.prompt_tokens if usage else 0
    completion_tokens = usage.completion_tokens if usage else 0
    details = usage.prompt_tokens_details if usage else None
    cached_tokens = (details.cached_tokens or 0) if details else 0
    counts = (prompt_tokens, completion_tokens, cached_tokens)
    if any(not 0 <= n <= MAX_CALL_TOKENS for n in counts) or cached_tokens > prompt_tokens:
        return CachedAnswer(choice.message.content or "", BAD_USAGE, 0, 0, 0)
    refusal = getattr(choice.message, "refusal", None)
    if refusal:
        return CachedAnswer(refusal, "refusal", prompt_tokens, completion_tokens, cached_tokens)
    return CachedAnswer(
        choice.message.content or "", choice.finish_reason, prompt_tokens, completion_tokens, cached_tokens
    )


def count_answer(counts: CallCounts, answer: CachedAnswer) -> None:
    """An answer received (paid for) in this run."""
    counts.answers += 1
    counts.prompt_tokens += answer.prompt_tokens
    counts.completion_tokens += answer.completion_tokens
    counts.cached_tokens += answer.cached_tokens
