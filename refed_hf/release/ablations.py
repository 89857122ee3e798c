"""The paper's ablation table as configs of one release (`--ablations`), each in the shape of `sft`.

All of them rest on the same synthesized instructions as `sft` (or, for the seed row, on no synthesis
at all), so training on each in turn changes only the feedback a model's data was made with:

- `sft-seed`: the seed's kept references themselves (no feedback);
- `sft-instruction-feedback`: each synthesized instruction with its first, unimproved response
  (reference-level instruction feedback only);
- `sft-sample-feedback`: each response improved with feedback on that response itself (sample level);
- `sft`, already in every release, is the full method (reference-level instruction and response feedback).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets

from .training_configs import sft_config, system_turns

SEED, INSTRUCTION_FEEDBACK, SAMPLE_FEEDBACK = "sft-seed", "sft-instruction-feedback", "sft-sample-feedback"
ABLATION_CONFIGS = (SEED, INSTRUCTION_FEEDBACK, SAMPLE_FEEDBACK)


def _seed_rows(seed: datasets.Dataset) -> datasets.Dataset:
    # A seed row inspired by no feature: its `feature` is empty.
    columns = ["reference_id", "instruction", "response"]
    return seed.select_columns(columns).add_column("feature", [""] * len(seed), feature=datasets.Value("string"))


def ablation_configs(
    seed: datasets.Dataset | None,
    records: datasets.Dataset,
    sample_improved: datasets.Dataset,
    feedback: datasets.Dataset,
    workdir: Path,
) -> dict[str, datasets.Dataset]:
    """The three ablation configs; `sft-seed` only when `seed` is given (its texts may be republished)."""
    systems = system_turns(feedback)
    configs: dict[str, datasets.Dataset] = {}
    if seed is not None:
        configs[SEED] = sft_config(_seed_rows(seed), "response", system_turns(seed), SEED, workdir / f"{SEED}.arrow")
    configs[INSTRUCTION_FEEDBACK] = sft_config(
        records, "response", systems, INSTRUCTION_FEEDBACK, workdir / f"{INSTRUCTION_FEEDBACK}.arrow"
    )
    configs[SAMPLE_FEEDBACK] = sft_config(
        sample_improved, "improved_response", systems, SAMPLE_FEEDBACK, workdir / f"{SAMPLE_FEEDBACK}.arrow"
    )
    return configs


def ablations_part(configs: dict[str, datasets.Dataset], records: int, seed_texts: bool) -> dict[str, Any]:
    """The manifest's `ablations` part: which configs were written, their rows, and what was left out."""
    return {
        "configs": list(configs),
        "rows": {name: len(table) for name, table in configs.items()},
        "sample_feedback_missing": records - len(configs[SAMPLE_FEEDBACK]),
        "seed_config_omitted": not seed_texts,
    }
