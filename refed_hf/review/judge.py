"""The judge's word on a record, when the release carries one, in the one shape the page shows.

A judge compares a record's response with its improvement; a release may hold its verdicts in a
`judge` column of config `default` and its totals (e.g. the improvement's win rate) in a `judge` part
of the manifest. The page needs a verdict, the reasons and the totals: this module is the only place
that knows how a release spells them, so a new judge format is one change here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

JUDGE_COLUMN = "judge"  # in config `default`
JUDGE_PART = "judge"  # in the manifest
VERDICT_KEYS = ("verdict", "winner", "preferred", "choice", "label")
REASON_KEYS = ("reasons", "reason", "rationale", "explanation")
WIN_RATE_KEYS = ("win_rate", "improved_win_rate", "improvement_win_rate")


def _first(mapping: Mapping[str, Any], keys: Sequence[str]) -> Any:
    return next((mapping[key] for key in keys if mapping.get(key) not in (None, "", [])), None)


def _texts(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value]


def judgement(value: Any) -> dict[str, Any] | None:
    """{"verdict": str, "reasons": [str], "details": {name: scalar}} of one record, or None."""
    if value in (None, "", {}):
        return None
    if not isinstance(value, Mapping):
        return {"verdict": str(value), "reasons": [], "details": {}}
    used = {*VERDICT_KEYS, *REASON_KEYS}
    details = {
        name: item for name, item in value.items() if name not in used and isinstance(item, (str, int, float, bool))
    }
    verdict = _first(value, VERDICT_KEYS)
    return {
        "verdict": "" if verdict is None else str(verdict),
        "reasons": _texts(_first(value, REASON_KEYS)),
        "details": details,
    }


def judge_summary(manifest: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The overview's judge figures: the win rate and other totals of the manifest's part, and the
    verdicts counted over the records; None when the release was not judged."""
    part = manifest.get(JUDGE_PART)
    verdicts = Counter(record["judge"]["verdict"] for record in records if record.get("judge"))
    if not isinstance(part, Mapping) and not verdicts:
        return None
    part = part if isinstance(part, Mapping) else {}
    totals = {name: value for name, value in part.items() if isinstance(value, (str, int, float, bool))}
    return {"win_rate": _first(part, WIN_RATE_KEYS), "totals": totals, "verdicts": dict(verdicts.most_common())}
