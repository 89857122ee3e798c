"""What the teacher was asked, what it cost, and what failed: counters owned in one place."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from .prices import Usage


@dataclass
class CallCounts:
    """The teacher calls of one stage."""

    requests: int = 0  # HTTP requests sent, retries included
    answers: int = 0  # answers received and stored (paid for)
    cache_hits: int = 0
    rate_limited: int = 0  # 429s received
    retries: int = 0
    timeouts: int = 0  # requests that timed out (each may have been billed by the provider)
    reasks: int = 0  # answers that did not validate and were asked again
    valid_first_try: int = 0
    prompt_tokens: int = 0  # of the answers received in this run
    completion_tokens: int = 0
    cached_tokens: int = 0  # of the prompt tokens, served from the provider's prefix cache
    used_answers: int = 0  # answers used, from the teacher or the cache: what the release cost
    used_prompt_tokens: int = 0
    used_completion_tokens: int = 0
    used_cached_tokens: int = 0
    failures: Counter[str] = field(default_factory=Counter)

    def usage(self) -> Usage:
        """The tokens paid for in this run."""
        return Usage(self.prompt_tokens, self.cached_tokens, self.completion_tokens)

    def used_usage(self) -> Usage:
        """The tokens of every answer used (from the teacher or the cache): what the release cost."""
        return Usage(self.used_prompt_tokens, self.used_cached_tokens, self.used_completion_tokens)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failures"] = dict(sorted(self.failures.items()))
        return data


_SUMMED = [name for name in CallCounts.__dataclass_fields__ if name != "failures"]


class Ledger:
    """Call counts per stage, and their totals."""

    def __init__(self) -> None:
        self.stages: dict[str, CallCounts] = {}

    def stage(self, name: str) -> CallCounts:
        return self.stages.setdefault(name, CallCounts())

    def total(self) -> CallCounts:
        total = CallCounts()
        for counts in self.stages.values():
            for name in _SUMMED:
                setattr(total, name, getattr(total, name) + getattr(counts, name))
            total.failures.update(counts.failures)
        return total
