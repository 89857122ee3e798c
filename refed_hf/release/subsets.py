"""The subset configs `sft-METHOD-N`: the paper trained on 1K–8K records chosen by its judge, by
ROUGE-L diversity or at random, and compared them. Each is the `sft` shape, drawn from `train` only
(a held-out `test` stays unseen whatever the subset), rows in the release's order.

Every choice is seeded from `--random-seed` and the subset's name, so a rebuild picks the same rows
and adding one subset to a recipe does not change the others.
"""

from __future__ import annotations

import random
from pathlib import Path

import datasets

from ..subset_spec import SubsetSpec
from .manifest import Subset
from .rouge_l import diverse_selection, tokenizer_for

JUDGE_COLUMN = "judge"
IMPROVED = "improved"


def _rng(spec: SubsetSpec, random_seed: int) -> random.Random:
    return random.Random(f"subset\x00{spec.config}\x00{random_seed}")


def confirmed_rows(records: datasets.Dataset) -> list[int]:
    """Rows whose improved response the judge preferred in both orders."""
    if JUDGE_COLUMN not in records.column_names:
        return []
    verdicts = records[JUDGE_COLUMN]
    return [row for row, verdict in enumerate(verdicts) if verdict is not None and verdict["preferred"] == IMPROVED]


def choose(
    spec: SubsetSpec, records: datasets.Dataset, random_seed: int, threshold: float, language: str
) -> tuple[list[int], int, str | None]:
    """(rows chosen in release order, rows the method could choose from, the tokenizer when ROUGE-L)."""
    rng = _rng(spec, random_seed)
    if spec.method == "random":
        pool = list(range(len(records)))
        return sorted(rng.sample(pool, min(spec.size, len(pool)))), len(pool), None
    if spec.method == "judge":
        pool = confirmed_rows(records)
        return sorted(rng.sample(pool, min(spec.size, len(pool)))), len(pool), None
    order = list(range(len(records)))
    rng.shuffle(order)
    name, tokenize = tokenizer_for(language)
    chosen = diverse_selection(records["instruction"], order, spec.size, threshold, tokenize)
    return sorted(chosen), len(order), name


def subset_configs(
    specs: list[SubsetSpec],
    records: datasets.Dataset,
    sft: datasets.Dataset,
    random_seed: int,
    threshold: float,
    language: str,
    workdir: Path | None = None,
) -> tuple[dict[str, datasets.Dataset], list[Subset]]:
    """Each subset's rows of `sft` (row i of `sft` is row i of `records`, both the train split), with
    what the manifest and the card say of it."""
    tables: dict[str, datasets.Dataset] = {}
    reports: list[Subset] = []
    for spec in specs:
        rows, pool, tokenizer = choose(spec, records, random_seed, threshold, language)
        cache = str(workdir / f"{spec.config}.arrow") if workdir else None
        tables[spec.config] = sft.select(rows).flatten_indices(cache_file_name=cache)
        reports.append(
            Subset(
                config=spec.config,
                method=spec.method,
                wanted=spec.size,
                rows=len(rows),
                candidates=pool,
                rouge_l_threshold=threshold if spec.method == "rouge-l" else None,
                tokenizer=tokenizer,
            )
        )
    return tables, reports
