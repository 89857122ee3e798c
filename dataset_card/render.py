"""Rendering the card of a release: YAML metadata the Hub validates, and a body for people
deciding whether to train on the data. Everything in it comes from the manifest and the data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets
from datasets.info import DatasetInfo, DatasetInfosDict
from datasets.splits import SplitDict, SplitInfo
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData
from pydantic import BaseModel

from refed_hf.features import FEEDBACK_FEATURES, RECORD_FEATURES
from refed_hf.schemas import Record, ReferenceFeedback

TEMPLATE = Path(__file__).with_name("template.md")
EXAMPLE_TEXT_LIMIT = 300


def size_category(n: int) -> str:
    """The Hub's `size_categories` bucket for n rows."""
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]
    return next((label for bound, label in bounds if n < bound), "n>1T")


def _type_name(feature: Any) -> str:
    if isinstance(feature, datasets.Value):
        return feature.dtype
    if isinstance(feature, datasets.List):
        return f"list of {_type_name(feature.feature)}"
    if isinstance(feature, dict):
        return "struct {" + ", ".join(f"{k}: {_type_name(v)}" for k, v in feature.items()) + "}"
    return type(feature).__name__


def schema_rows(model: type[BaseModel], features: datasets.Features) -> list[dict[str, str]]:
    return [
        {"name": name, "type": _type_name(features[name]), "description": field.description or ""}
        for name, field in model.model_fields.items()
    ]


def _cut(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= EXAMPLE_TEXT_LIMIT else value[:EXAMPLE_TEXT_LIMIT] + " …"
    if isinstance(value, list):
        return [_cut(item) for item in value[:4]]
    if isinstance(value, dict):
        return {key: _cut(item) for key, item in value.items()}
    return value


def _version_order(release: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(part) for part in str(release["version"]).lstrip("v").split("."))


def card_metadata(manifest: dict[str, Any], data_files: dict[str, str], pretty_name: str) -> DatasetCardData:
    """YAML metadata: license, language, task, size, source, tags, configs and dataset_info."""
    card_data = DatasetCardData(
        license="cc-by-nc-4.0",
        language=["en"],
        task_categories=["text-generation"],
        size_categories=[size_category(manifest["records"])],
        source_datasets=[manifest["recipe"]["seed"]],
        pretty_name=pretty_name,
        tags=["synthetic", "instruction-tuning", "reference-level-feedback"],
    )
    MetadataConfigs(
        {
            config: {"data_files": [{"split": "train", "path": pattern}]}
            for config, pattern in data_files.items()
        }
    ).to_dataset_card_data(card_data)
    infos = {}
    for config, features, rows_key in (("default", RECORD_FEATURES, "records"), ("feedback", FEEDBACK_FEATURES, "feedback_rows")):
        sizes = manifest["files"][config]
        splits = SplitDict()
        splits.add(SplitInfo(name="train", num_bytes=sizes["num_bytes"], num_examples=manifest[rows_key]))
        infos[config] = DatasetInfo(
            features=features,
            splits=splits,
            download_size=sizes["download_size"],
            dataset_size=sizes["num_bytes"],
            config_name=config,
        )
    DatasetInfosDict(infos).to_dataset_card_data(card_data)
    return card_data


def render_card(
    manifest: dict[str, Any],
    example: dict[str, Any] | None,
    data_files: dict[str, str],
    load_path: str,
    revision: str | None = None,
    history: list[dict[str, Any]] | None = None,
) -> str:
    """The README.md of a release, from its manifest, one example record and its data file patterns.

    `load_path` and `revision` go into the loading lines (a local path, or the repo id and tag);
    `history` lists earlier releases, to which this one is added, newest first.
    """
    recipe = manifest["recipe"]
    offline = bool(manifest.get("offline_demo"))
    pretty_name = "REFED (offline demo)" if offline else "REFED"
    totals = manifest["teacher"]["used"]
    failures = [
        {"stage": stage, "reason": reason, "count": count}
        for stage, counts in manifest["stages"].items()
        for reason, count in counts["failed"].items()
    ]
    stats = manifest["statistics"]
    this_release = {
        "version": f"v{recipe['version']}",
        "date": manifest["created_at"][:10],
        "records": manifest["records"],
        "teacher": recipe["teacher_model"],
    }
    card = DatasetCard.from_template(
        card_metadata(manifest, data_files, pretty_name),
        template_path=str(TEMPLATE),
        pretty_name=pretty_name,
        offline_demo=offline,
        version=recipe["version"],
        records=manifest["records"],
        wanted=recipe["size"],
        shortfall=max(0, recipe["size"] - manifest["records"]),
        feedback_rows=manifest["feedback_rows"],
        references_used=manifest["references_used"],
        seed=recipe["seed"],
        seed_split=recipe["seed_split"],
        seed_rows=manifest["seed"]["rows"],
        seed_kept=manifest["seed"]["kept"],
        seed_dropped=", ".join(f"{n} {why.replace('_', '-')}" for why, n in manifest["seed"]["dropped"].items()),
        teacher_model=recipe["teacher_model"],
        temperature=recipe["temperature"],
        top_p=recipe["top_p"],
        max_tokens=recipe["max_tokens"],
        random_seed=recipe["random_seed"],
        prompt_set_version=manifest["prompt_set"]["version"],
        prompt_set_hash=manifest["prompt_set"]["hash"],
        library_versions=", ".join(f"{name} {v}" for name, v in manifest["library_versions"].items()),
        record_schema=schema_rows(Record, RECORD_FEATURES),
        feedback_schema=schema_rows(ReferenceFeedback, FEEDBACK_FEATURES),
        example=json.dumps(_cut(example), indent=2, ensure_ascii=False) if example else None,
        per_feature=stats["per_feature"],
        lengths=[{"field": name, **values} for name, values in stats["lengths"].items()],
        answers_used=totals["answers_used"],
        prompt_tokens=totals["prompt_tokens"],
        completion_tokens=totals["completion_tokens"],
        cost=f"{manifest['estimated_cost_usd']:.4f}",
        price_prompt=recipe["prices"]["prompt"],
        price_completion=recipe["prices"]["completion"],
        failures=failures,
        load_path=load_path,
        revision=revision,
        history=sorted([*(history or []), this_release], key=_version_order, reverse=True),
        quality=manifest.get("quality"),
        filters=manifest.get("filters"),
    )
    return str(card)
