"""The held-out split (`--test-size`): whole references go to `test`, so no reference has records in
both splits and the split measures generalisation to new references, not memory of their records.

Which references go is decided by ranking them by a hash of (random seed, reference id): a
reference's rank does not depend on which other references a build used, so a larger build of the
same recipe keeps the earlier test references where it can. References are taken in that order while
each one brings the test split closer to the wanted number of records.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import datasets

from ..errors import RecipeError
from .statistics import record_statistics

TRAIN, TEST = "train", "test"
BATCH = 4096


def held_out_target(test_size: float, total: int) -> int:
    """Records wanted in `test`: a fraction (< 1) of `total`, or a count (>= 1)."""
    if test_size <= 0:
        return 0
    return round(test_size * total) if test_size < 1 else int(test_size)


def _rank(random_seed: int, reference_id: str) -> str:
    return hashlib.sha256(f"test-split\x00{random_seed}\x00{reference_id}".encode()).hexdigest()


def held_out_references(reference_ids: Iterable[str], test_size: float, random_seed: int) -> set[str]:
    """The references whose records make the `test` split, from the records' `reference_id` column."""
    counts = Counter(reference_ids)
    total = sum(counts.values())
    target = held_out_target(test_size, total)
    if target == 0:
        return set()
    if len(counts) < 2:
        raise RecipeError(
            f"--test-size {test_size} needs records from at least 2 references, this build has {len(counts)}: "
            "raise --size or pass --test-size 0 (every answer is cached)"
        )
    chosen: set[str] = set()
    taken = 0
    for rid in sorted(counts, key=lambda rid: _rank(random_seed, rid)):
        size = counts[rid]
        # A reference is taken when it brings `test` nearer the target and leaves `train` some records.
        if abs(taken + size - target) < abs(taken - target) and taken + size < total:
            chosen.add(rid)
            taken += size
    if not chosen:  # the target is smaller than any reference's share: the smallest held out is one reference
        smallest = min(sorted(counts, key=lambda rid: _rank(random_seed, rid)), key=lambda rid: counts[rid])
        chosen.add(smallest)
    return chosen


def _indices(table: datasets.Dataset, held_out: set[str]) -> tuple[list[int], list[int]]:
    train: list[int] = []
    test: list[int] = []
    offset = 0
    for batch in table.select_columns(["reference_id"]).iter(batch_size=BATCH):
        for i, rid in enumerate(batch["reference_id"], start=offset):
            (test if rid in held_out else train).append(i)
        offset += len(batch["reference_id"])
    return train, test


def split_by_reference(
    tables: dict[str, datasets.Dataset], held_out: set[str], workdir: Path | None = None
) -> dict[str, dict[str, datasets.Dataset]]:
    """Each table as {"train": ..., "test": ...} (only "train" when nothing is held out), rows in their
    original order within each split."""
    if not held_out:
        return {config: {TRAIN: table} for config, table in tables.items()}
    splits: dict[str, dict[str, datasets.Dataset]] = {}
    for config, table in tables.items():
        parts = dict(zip((TRAIN, TEST), _indices(table, held_out)))
        # Flattened into their own Arrow files, so each split's size on disk is its own.
        splits[config] = {
            split: table.select(rows).flatten_indices(
                cache_file_name=str(workdir / f"{config}-{split}.arrow") if workdir else None
            )
            for split, rows in parts.items()
        }
    return splits


def split_rows(splits: dict[str, dict[str, datasets.Dataset]]) -> dict[str, dict[str, int]]:
    """Rows per config and split, for the manifest and the card."""
    return {config: {split: len(table) for split, table in parts.items()} for config, parts in splits.items()}


def split_summary(
    splits: dict[str, dict[str, datasets.Dataset]], held_out: set[str], test_size: float
) -> dict[str, Any]:
    """New manifest keys: `splits` (what was held out, rows per config and split) and, with a test split,
    `split_statistics` (the records' statistics per split)."""
    summary: dict[str, Any] = {
        "splits": {"test_size": test_size, "test_references": len(held_out), "rows": split_rows(splits)},
    }
    if held_out:
        summary["split_statistics"] = {split: record_statistics(table) for split, table in splits["default"].items()}
    return summary
