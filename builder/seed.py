"""Loading the seed set of reference pairs and normalising it to references
(reference_id, instruction, response, system, seed_split, seed_row).

Where the rows come from is `local_seed` (files, directories, `demo`) or `hub_seed` (a Hub repo at
one commit); how a row becomes a reference is `seed_shapes`. Every row that gives none is counted
under its reason, never silently lost.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import datasets

from refed_hf.errors import SeedError
from refed_hf.recipe import is_local_seed
from refed_hf.teacher.estimates import CHARS_PER_TOKEN

from .hub_seed import read_hub
from .local_seed import DEMO_SEED, DEMO_SEED_FILE, read_local
from .seed_shapes import DUPLICATE, EMPTY, TOO_LONG, ColumnChoice, Pair, detect_shape

__all__ = ["DEMO_SEED", "DEMO_SEED_FILE", "SEED_FEATURES", "ColumnChoice", "SeedReport", "load_seed", "reference_id"]

SEED_FEATURES = datasets.Features(
    {
        "reference_id": datasets.Value("string"),
        "instruction": datasets.Value("string"),
        "response": datasets.Value("string"),
        "system": datasets.Value("string"),
        "seed_split": datasets.Value("string"),
        "seed_row": datasets.Value("int64"),
    }
)
SEED_COLUMNS = tuple(SEED_FEATURES)
SHAPE_SAMPLE_ROWS = 20


@dataclass
class SeedReport:
    """What the seed gave: where it came from (public names only), rows read, references kept, and
    rows dropped by reason."""

    source: str
    rows: int = 0
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    shape: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows": self.rows,
            "kept": self.kept,
            "dropped": dict(self.dropped),
            "shape": self.shape,
            **self.provenance,
        }


def reference_id(instruction: str, response: str, system: str = "") -> str:
    """A stable id for a reference: the same text gives the same id in every run and release
    (a reference without a system turn keeps the id it always had)."""
    text = f"{instruction}\x00{response}" if not system else f"{system}\x00{instruction}\x00{response}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def estimated_tokens(pair: Pair) -> int:
    return math.ceil((len(pair.system) + len(pair.instruction) + len(pair.response)) / CHARS_PER_TOKEN)


def load_seed(
    source: str,
    split: str = "train",
    *,
    revision: str = "main",
    config: str | None = None,
    columns: ColumnChoice | None = None,
    max_reference_tokens: int | None = None,
) -> tuple[datasets.Dataset, SeedReport]:
    """The seed's usable references, deduplicated, with a report of where they came from and what was dropped."""
    try:
        if is_local_seed(source):
            raw, provenance = read_local(source, split)
        else:
            raw, provenance = read_hub(source, revision, config, split)
    except SeedError:
        raise
    except Exception as exc:  # noqa: BLE001 - datasets raises many kinds; all mean the same to the user
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SeedError(f"cannot load seed {source!r} (split {split!r}): {first_line}") from None
    report = SeedReport(source=provenance["name"], rows=len(raw), provenance=provenance)
    try:
        shape = detect_shape(
            raw.column_names,
            raw.select(range(min(SHAPE_SAMPLE_ROWS, len(raw)))).to_list(),
            columns or ColumnChoice(),
            report.source,
        )
        report.shape = shape.name

        seen: set[str] = set()
        kept: dict[str, list[Any]] = {name: [] for name in SEED_COLUMNS}
        row_index = 0
        for batch in raw.select_columns(list(shape.columns)).iter(batch_size=1000):
            for values in zip(*(batch[c] for c in shape.columns)):
                row, row_index = dict(zip(shape.columns, values)), row_index + 1
                mapped = shape.map_row(row)
                if isinstance(mapped, str):
                    report.dropped[mapped] += 1
                    continue
                pair = Pair(mapped.system.strip(), mapped.instruction.strip(), mapped.response.strip())
                if not pair.instruction or not pair.response:
                    report.dropped[EMPTY] += 1
                    continue
                if max_reference_tokens is not None and estimated_tokens(pair) > max_reference_tokens:
                    report.dropped[TOO_LONG] += 1
                    continue
                rid = reference_id(pair.instruction, pair.response, pair.system)
                if rid in seen:
                    report.dropped[DUPLICATE] += 1
                    continue
                seen.add(rid)
                for name, value in (
                    ("reference_id", rid),
                    ("instruction", pair.instruction),
                    ("response", pair.response),
                    ("system", pair.system),
                    ("seed_split", split),
                    ("seed_row", row_index - 1),
                ):
                    kept[name].append(value)
    except UnicodeDecodeError as exc:  # a text column holding bytes that are not UTF-8 (a Hub seed's files)
        raise SeedError(
            f"seed {report.source} holds text that is not UTF-8 ({exc.reason} at byte {exc.start}): "
            "fix its encoding, or pass another --seed"
        ) from None
    report.kept = len(kept["reference_id"])
    if report.kept == 0:
        raise SeedError(
            f"seed {report.source} has no usable single-turn pair ({report.rows} rows, dropped {dict(report.dropped)})"
        )
    return datasets.Dataset.from_dict(kept, features=SEED_FEATURES), report
