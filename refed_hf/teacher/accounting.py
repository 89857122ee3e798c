"""What the teacher was asked, what it cost, and what failed: counters owned in one place."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from ..recipe import Prices


def estimate_cost(prompt_tokens: int, completion_tokens: int, prices: Prices) -> float:
    """US dollars for the given token counts at `prices` (dollars per million tokens)."""
    return (prompt_tokens * prices.prompt + completion_tokens * prices.completion) / 1_000_000


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
    used_answers: int = 0  # answers used, from the teacher or the cache: what the release cost
    used_prompt_tokens: int = 0
    used_completion_tokens: int = 0
    failures: Counter[str] = field(default_factory=Counter)

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
