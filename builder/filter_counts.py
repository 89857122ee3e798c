"""Every item a filter dropped, counted by filter and by stage, in the release's fixed order.

`FilterCounts.drop` is called by the ordered pass of `refill.Refill`, once per dropped item and only
for items up to the last one the release needed, so the counts are the same whatever the timing of
the calls; the same call site hands the item to `drops.DropLog.record_drop` for review.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from .filters import FILTERS
from .stages import IMPROVEMENTS, INSTRUCTIONS, RESPONSES


@dataclass(frozen=True)
class Dropped:
    stage: str
    filter: str
    reason: str


class FilterCounts:
    """Drops per filter and per stage; `kept` is counted beside them by the same ordered pass."""

    def __init__(self, settings: dict[str, Any], extra_filters: list[str] | None = None) -> None:
        self.settings = settings
        self.kept = 0
        names = [*FILTERS[:2], *(extra_filters or []), *FILTERS[2:]]
        self.by_filter: Counter[str] = Counter({name: 0 for name in names})
        self.by_stage: dict[str, Counter[str]] = {stage: Counter() for stage in (INSTRUCTIONS, RESPONSES, IMPROVEMENTS)}
        self.screened: Counter[str] = Counter()  # items each stage's filters judged
        self.reasons: dict[str, Counter[str]] = {}  # per filter, the reasons it gave
        self.index_size = 0

    def judged(self, stage: str) -> None:
        self.screened[stage] += 1

    def drop(self, dropped: Dropped) -> None:
        self.by_filter[dropped.filter] += 1
        self.by_stage[dropped.stage][dropped.filter] += 1
        self.reasons.setdefault(dropped.filter, Counter())[dropped.reason] += 1

    def total(self) -> int:
        return sum(self.by_filter.values())

    def counts(self) -> dict[str, Any]:
        """For the manifest: screened = kept + dropped (the items a filter decided on, to the end)."""
        return {
            "settings": self.settings,
            "screened": self.kept + self.total(),
            "kept": self.kept,
            "dropped": dict(self.by_filter),
            "by_stage": {
                stage: {"screened": self.screened[stage], "dropped": dict(self.by_stage[stage])}
                for stage in self.by_stage
            },
            "index_size": self.index_size,
        }
