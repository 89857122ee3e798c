"""The judge's word on a record, when the release carries one, in the one shape the page shows.

The judge (`--judge`, builder/judge.py) compares a record's response with its improvement in both
orders; its verdicts are column `judge` of config `default` and its totals (the improvement's win
rate) the manifest's `judge` part. The page needs a verdict, the reasons and the totals: this module is the only place
that knows how a release spells them, so a new judge format is one change here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from ..features import JUDGE_COLUMN
from ..release.manifest import Manifest

__all__ = ["JUDGE_COLUMN", "judge_summary", "judgement"]


def judgement(value: Any) -> dict[str, Any] | None:
    """{"verdict": str, "reasons": [str], "details": {name: str}} of one record's `judge` column, or None
    (not judged, or the judge's calls failed)."""
    if not isinstance(value, Mapping) or not value.get("preferred"):
        return None
    return {
        "verdict": value["preferred"],
        "reasons": [value.get("reason_original_first", ""), value.get("reason_improved_first", "")],
        "details": {
            "original shown first": value.get("original_first", ""),
            "improved shown first": value.get("improved_first", ""),
        },
    }


def judge_summary(manifest: Manifest, records: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The overview's judge figures: the win rate and totals of the manifest's part, and the verdicts
    counted over the records; None when the release was not judged."""
    part = manifest.judge
    verdicts = Counter(record["judge"]["verdict"] for record in records if record.get("judge"))
    if part is None and not verdicts:
        return None
    totals = {} if part is None else part.model_dump(mode="json", exclude={"win_rate"})
    return {
        "win_rate": None if part is None else part.win_rate,
        "totals": totals,
        "verdicts": dict(verdicts.most_common()),
    }
