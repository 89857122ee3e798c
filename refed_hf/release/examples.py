"""The examples a card shows: the first `train` record and its reference's `feedback` row, read the
same way from the tables of a build and from a release on disk, so the local and the published card
show the same rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import pyarrow.parquet as pq

from .splits import TRAIN
from .writer import CONFIG_DIRS

Row = dict[str, Any]


def first_record(release: Path) -> Row | None:
    shards = sorted((release / CONFIG_DIRS["default"]).glob(f"{TRAIN}-*.parquet"))
    if not shards:
        return None
    first = pq.ParquetFile(shards[0])
    if not first.num_row_groups:
        return None
    table = first.read_row_group(0)
    return table.slice(0, 1).to_pylist()[0] if table.num_rows else None


def examples_on_disk(release: Path) -> tuple[Row | None, Row | None]:
    """(first train record, its reference's feedback row) of a written release."""
    record = first_record(release)
    shards = sorted((release / CONFIG_DIRS["feedback"]).glob("*.parquet"))
    if record is None or not shards:
        return record, None
    rows = pq.read_table(shards, filters=[("reference_id", "=", record["reference_id"])]).slice(0, 1).to_pylist()
    return record, rows[0] if rows else None


def examples_of(splits: dict[str, dict[str, datasets.Dataset]]) -> tuple[Row | None, Row | None]:
    """The same two rows, from the tables about to be written."""
    records = splits["default"][TRAIN]
    if not len(records):
        return None, None
    record = records[0]
    for part in splits["feedback"].values():
        ids = list(part["reference_id"])
        if record["reference_id"] in ids:
            return record, part[ids.index(record["reference_id"])]
    return record, None
