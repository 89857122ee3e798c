"""Running one async stage over every kept record, after the build, with `Dataset.map`.

A pass (the sample-level feedback baseline, the judge) is a coroutine from one record to one
output row, or to `None` when its calls failed: that record is left out of the pass's table and the
rest go on, as a failed item costs that item only. The rows stay in Arrow files under the workdir,
in the records' order, and every call goes through `Teacher.ask` (cached, counted per stage).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import datasets

from refed_hf.teacher import Teacher

RecordStage = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]
RECORDS_PER_BATCH = 8


def run_record_pass(
    records: datasets.Dataset,
    stage: RecordStage,
    features: datasets.Features,
    teacher: Teacher,
    workdir: Path,
    name: str,
) -> datasets.Dataset:
    """`stage` applied to every row of `records`, in order; the rows it returns, typed by `features`."""

    async def run(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        rows = [dict(zip(batch, values)) for values in zip(*batch.values())]
        made = [row for row in await asyncio.gather(*(stage(row) for row in rows)) if row is not None]
        return {column: [row[column] for row in made] for column in features}

    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return records.map(
            run,
            batched=True,
            batch_size=RECORDS_PER_BATCH,
            remove_columns=records.column_names,
            features=features,
            cache_file_name=str(workdir / f"{name}.arrow"),
            load_from_cache_file=False,
            new_fingerprint=f"refed-pass-{name}",
            desc=f"Pass {name}",
        )
    finally:
        teacher.close_connections()
