"""Statistics of a release, computed from its data in batches (never the whole table in memory)."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

import datasets

LENGTH_FIELDS = ("instruction", "response", "improved_response")


def record_statistics(records: datasets.Dataset) -> dict[str, Any]:
    """Records per feature and the mean/median length in characters of the main text fields."""
    per_feature: Counter[str] = Counter()
    lengths: dict[str, list[int]] = {name: [] for name in LENGTH_FIELDS}
    columns = records.select_columns(["feature", *LENGTH_FIELDS])
    for batch in columns.iter(batch_size=2048):
        per_feature.update(batch["feature"])
        for name in LENGTH_FIELDS:
            lengths[name].extend(len(text) for text in batch[name])
    return {
        "records": len(records),
        "per_feature": dict(sorted(per_feature.items())),
        "lengths": {
            name: {
                "mean": round(statistics.fmean(values), 1) if values else 0.0,
                "median": statistics.median(values) if values else 0,
            }
            for name, values in lengths.items()
        },
    }
