"""The training configs of a release, converted from its records (no teacher call):

- `sft`: `messages` = [system?, user instruction, assistant improved_response], TRL's conversational
  language-modeling format, for `SFTTrainer`;
- `preference`: `prompt` = [system?, user instruction], `chosen` = [assistant improved_response],
  `rejected` = [assistant response], TRL's conversational preference format, for `DPOTrainer`.

Row i of `sft` is row i of `default`, so splits and order carry over as they are. So is `preference`'s,
unless the records were judged (column `judge`): then it holds only the pairs the judge confirmed (the
improved response preferred in both orders), in the records' order, as a pair the judge did not
confirm is no evidence of which response is better.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets

from ..features import JUDGE_COLUMN, PREFERENCE_FEATURES, SFT_FEATURES

SYSTEM_COLUMN = "system"  # the feedback config's column with a reference's system turn ("" when none)
BATCH = 1000


def system_turns(feedback: datasets.Dataset) -> dict[str, str]:
    """The system turn of each reference that had one, from the feedback table (an older feedback table
    without the column means no reference had one)."""
    if SYSTEM_COLUMN not in feedback.column_names:
        return {}
    turns: dict[str, str] = {}
    for batch in feedback.select_columns(["reference_id", SYSTEM_COLUMN]).iter(batch_size=BATCH):
        turns.update((rid, text) for rid, text in zip(batch["reference_id"], batch[SYSTEM_COLUMN]) if text)
    return turns


def _opening(system: str | None, instruction: str) -> list[dict[str, str]]:
    turns = [{"role": "system", "content": system}] if system else []
    return [*turns, {"role": "user", "content": instruction}]


def _sft_batch(
    batch: dict[str, list[Any]], systems: dict[str, str], answer: str = "improved_response"
) -> dict[str, list[Any]]:
    return {
        "messages": [
            [*_opening(systems.get(rid), instruction), {"role": "assistant", "content": text}]
            for rid, instruction, text in zip(batch["reference_id"], batch["instruction"], batch[answer])
        ],
        "reference_id": batch["reference_id"],
        "feature": batch["feature"],
    }


def sft_config(
    table: datasets.Dataset, answer: str, systems: dict[str, str], name: str, cache_file: Path | None
) -> datasets.Dataset:
    """Rows (reference_id, feature, instruction, `answer`) as conversations in the shape of config `sft`."""
    return table.map(
        _sft_batch,
        fn_kwargs={"systems": systems, "answer": answer},
        batched=True,
        batch_size=BATCH,
        remove_columns=table.column_names,
        features=SFT_FEATURES,
        cache_file_name=str(cache_file) if cache_file else None,
        load_from_cache_file=False,
        new_fingerprint=f"{table._fingerprint}-{name}",
        desc=f"Config {name}",
    )


def _preference_batch(batch: dict[str, list[Any]], systems: dict[str, str]) -> dict[str, list[Any]]:
    rows = zip(batch["reference_id"], batch["instruction"], batch["improved_response"], batch["response"])
    prompts, chosen, rejected = [], [], []
    for rid, instruction, improved, response in rows:
        prompts.append(_opening(systems.get(rid), instruction))
        chosen.append([{"role": "assistant", "content": improved}])
        rejected.append([{"role": "assistant", "content": response}])
    return {"prompt": prompts, "chosen": chosen, "rejected": rejected, "reference_id": batch["reference_id"]}


def _convert(
    records: datasets.Dataset, fn: Any, systems: dict[str, str], features: datasets.Features, cache_file: Path | None
) -> datasets.Dataset:
    name = fn.__name__.strip("_")
    return records.map(
        fn,
        fn_kwargs={"systems": systems},
        batched=True,
        batch_size=BATCH,
        remove_columns=records.column_names,
        features=features,
        cache_file_name=str(cache_file) if cache_file else None,
        load_from_cache_file=False,
        # Derived from the records' own fingerprint: no hashing of the systems table on every build.
        new_fingerprint=f"{records._fingerprint}-{name}",
        desc=f"Config {name.removesuffix('_batch')}",
    )


def confirmed_pairs(records: datasets.Dataset, cache_file: Path | None = None) -> datasets.Dataset:
    """The records whose improved response the judge preferred in both orders (all without a judge)."""
    if JUDGE_COLUMN not in records.column_names:
        return records
    return records.filter(
        lambda verdicts: [v is not None and v["preferred"] == "improved" for v in verdicts],
        input_columns=JUDGE_COLUMN,
        batched=True,
        batch_size=BATCH,
        cache_file_name=str(cache_file) if cache_file else None,
        load_from_cache_file=False,
        new_fingerprint=f"{records._fingerprint}-confirmed",
    )


def training_configs(
    records: datasets.Dataset, feedback: datasets.Dataset, workdir: Path | None = None
) -> dict[str, datasets.Dataset]:
    """`sft` and `preference`, row for row from `records` (Arrow files under `workdir` when given)."""
    systems = system_turns(feedback)
    return {
        "sft": _convert(records, _sft_batch, systems, SFT_FEATURES, workdir / "sft.arrow" if workdir else None),
        "preference": _convert(
            confirmed_pairs(records, workdir / "confirmed.arrow" if workdir else None),
            _preference_batch,
            systems,
            PREFERENCE_FEATURES,
            workdir / "preference.arrow" if workdir else None,
        ),
    }
