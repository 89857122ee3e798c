"""Rendering the card of a release: YAML metadata the Hub validates, and a body for people
deciding whether to train on the data. Everything in it comes from the manifest and the data."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import datasets
import yaml
from datasets.info import DatasetInfo, DatasetInfosDict
from datasets.splits import SplitDict, SplitInfo
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData
from pydantic import BaseModel

from refed_hf.features import (
    FEEDBACK_FEATURES,
    JUDGE_COLUMN,
    JUDGED_RECORD_FEATURES,
    PREFERENCE_FEATURES,
    RECORD_FEATURES,
    SFT_FEATURES,
)
from refed_hf.prompt_sets import PROMPT_SETS, PromptSet, feedback_features
from refed_hf.recipe import MODEL_NAME
from refed_hf.release.ablations import ABLATION_CONFIGS
from refed_hf.release.manifest import FilterSettings, Manifest
from refed_hf.schemas import JudgeColumn, PreferenceExample, Record, SftExample

TEMPLATE = Path(__file__).with_name("template.md")
EXAMPLE_TEXT_LIMIT = 300
EXAMPLE_WIDTH = 88
PAPER_URL = "https://arxiv.org/abs/2502.04511"
# The load lines of a card written to disk before any push: never the local folder (the folder is then
# safe to upload with any tool), the repo id when the recipe names it, else this placeholder.
PLACEHOLDER_REPO = "ORG/NAME"
CONFIG_FEATURES = {
    "default": RECORD_FEATURES,
    "feedback": FEEDBACK_FEATURES,
    "sft": SFT_FEATURES,
    "preference": PREFERENCE_FEATURES,
    **dict.fromkeys(ABLATION_CONFIGS, SFT_FEATURES),
}


def prompt_set_of(manifest: Manifest) -> PromptSet:
    """The prompt set that built a release, as its manifest names it (`concise` before there was a choice)."""
    return PROMPT_SETS[manifest.prompt_set.name]


# The paper's ablation table, row by row: its name there, the config that reproduces it, what the config
# holds, and the paper's figures (Llama-3.1-8B-Instruct; AlpacaEval 2.0 LC win rate / Arena-Hard).
ABLATION_ROWS = [
    ("seed only (LIMA), no feedback", "sft-seed", "the seed's kept references themselves", "32.45 / 29.2"),
    (
        "+ reference-level instruction feedback",
        "sft-instruction-feedback",
        "the synthesized instructions with their first, unimproved responses",
        "38.99 / 29.8",
    ),
    (
        "+ sample-level response feedback",
        "sft-sample-feedback",
        "the same responses improved with feedback written on each response itself",
        "42.92 / 30.8",
    ),
    (
        "full method (REFED): reference-level instruction and response feedback",
        "sft",
        "the same responses improved with the reference's feedback",
        "43.96 / 35.9",
    ),
]
# Who wrote the text of the records is the teacher; the `feedback` config also carries the seed's own text.
# "other" where the seed's origin is not known to this tool.
SEED_LANGUAGE_CREATORS = {"GAIR/lima": ["expert-generated", "found"]}
# The Hub's task ids under text-generation are dialogue-modeling, dialogue-generation, conversational and
# language-modeling; instruction/response chats for SFT and DPO are dialogue and language modeling.
TASK_IDS = ["dialogue-modeling", "language-modeling"]
LANGUAGE_NAMES = {
    "en": "English",
    "fr": "French",
    "de": "German",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "ru": "Russian",
}


def size_category(n: int) -> str:
    """The Hub's `size_categories` bucket for n rows."""
    bounds = [
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
        (100_000_000, "10M<n<100M"),
        (1_000_000_000, "100M<n<1B"),
    ]
    return next((label for bound, label in bounds if n < bound), "n>1T")


def _type_name(feature: Any) -> str:
    if isinstance(feature, datasets.Value):
        return feature.dtype
    if isinstance(feature, datasets.List):
        return f"list of {_type_name(feature.feature)}"
    if isinstance(feature, dict):
        return "struct {" + ", ".join(f"{k}: {_type_name(v)}" for k, v in feature.items()) + "}"
    return type(feature).__name__


def config_features(manifest: Manifest, config: str) -> datasets.Features:
    """A config's declared features: `default` has column `judge` when judged, `feedback` follows the
    prompt set; a subset or an ablation config is `sft`-shaped."""
    if config == "default" and manifest.judge is not None:
        return JUDGED_RECORD_FEATURES
    if config == "feedback":  # its columns follow the prompt set that built the release
        return feedback_features(prompt_set_of(manifest))
    return CONFIG_FEATURES.get(config, SFT_FEATURES)


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


class _WrappedDumper(yaml.SafeDumper):
    """YAML for a reader: texts with line breaks as blocks, long lines wrapped."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        lines = [wrapped for line in value.splitlines() for wrapped in (textwrap.wrap(line, EXAMPLE_WIDTH) or [""])]
        return dumper.represent_scalar("tag:yaml.org,2002:str", "\n".join(lines), style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_WrappedDumper.add_representer(str, _text)


def fenced(text: str, info: str = "") -> str:
    """`text` as a fenced code block no line of it can close: the fence is longer than the longest run
    of backticks in it, so no markdown or HTML in seed or teacher text is rendered by the card."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def code_span(text: str) -> str:
    """`text` as inline code that no backtick in it can end (CommonMark: a longer backtick string,
    padded with spaces when the text starts or ends with a backtick); line breaks become spaces."""
    flat = " ".join(str(text).split())
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{ticks}{pad}{flat}{pad}{ticks}"


def example_block(row: dict[str, Any] | None) -> str | None:
    """One row of a config as wrapped YAML, long texts cut, so no line overflows the card; fenced, so
    its texts are shown as they are, never rendered."""
    if not row:
        return None
    text = yaml.dump(_cut(row), Dumper=_WrappedDumper, width=EXAMPLE_WIDTH, allow_unicode=True, sort_keys=False)
    return fenced(text.rstrip(), "yaml")


def _cost(manifest: Manifest) -> str:
    """The cost row: the estimate and the rates it used, or why there is none."""
    cost = manifest.cost
    prices = cost.prices_per_million_usd if cost is not None else None
    if manifest.estimated_cost_usd is None or cost is None or not prices:
        return "unknown (the teacher model is not in the price table and no prices were given)"
    batch = cost.priced_at == "batch"
    prefix = "batch_" if batch else ""
    rates = (
        f"${prices[prefix + 'prompt']:g} / ${prices[prefix + 'cached_prompt']:g} / "
        f"${prices[prefix + 'completion']:g} per million prompt / cached prompt / completion tokens"
    )
    return f"${manifest.estimated_cost_usd:.4f} at {'Batch API' if batch else 'list'} rates ({rates}, checked {cost.prices_checked})"


def _version_order(release: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(part) for part in str(release["version"]).lstrip("v").split("."))


def card_metadata(manifest: Manifest, data_files: dict[str, dict[str, str]], pretty_name: str) -> DatasetCardData:
    """YAML metadata: license, language, creators, task, size, source, tags, configs and dataset_info."""
    recipe = manifest.recipe
    card_data = DatasetCardData(
        license=recipe.license,
        language=[recipe.language],
        annotations_creators=["machine-generated"],
        language_creators=sorted({"machine-generated", *SEED_LANGUAGE_CREATORS.get(recipe.seed, ["other"])}),
        multilinguality=["monolingual"],
        task_categories=["text-generation"],
        task_ids=TASK_IDS,
        size_categories=[size_category(manifest.records)],
        # Hub ids only: a local seed has no public name to point at.
        source_datasets=[manifest.seed.name] if manifest.seed.kind == "hub" else None,
        pretty_name=pretty_name,
        tags=["synthetic", "instruction-tuning", "reference-level-feedback"],
    )
    MetadataConfigs(
        {
            config: {"data_files": [{"split": split, "path": pattern} for split, pattern in patterns.items()]}
            for config, patterns in data_files.items()
            if config in manifest.files
        }
    ).to_dataset_card_data(card_data)
    infos = {}
    for config in data_files:
        if config not in manifest.files:
            continue
        sizes = manifest.files[config]
        splits = SplitDict()
        for split, split_sizes in sizes.splits.items():
            splits.add(SplitInfo(name=split, num_bytes=split_sizes.num_bytes, num_examples=split_sizes.rows))
        infos[config] = DatasetInfo(
            features=config_features(manifest, config),
            splits=splits,
            download_size=sizes.download_size,
            dataset_size=sizes.num_bytes,
            config_name=config,
        )
    DatasetInfosDict(infos).to_dataset_card_data(card_data)
    return card_data


def seed_context(manifest: Manifest) -> dict[str, Any]:
    """What the card says of the seed: its public name and exact version, its license as its own
    card declares it, and whether its texts are republished. Never a local path."""
    seed = manifest.seed
    if seed.kind == "hub":
        # The seed's names and its card's license come from the Hub: shown as code, never rendered.
        described = (
            f"{code_span(seed.name)} at commit {code_span(seed.sha or '')} (revision {code_span(seed.revision or '')}"
            + (f", config {code_span(seed.config)}" if seed.config else "")
            + ")"
        )
        seed_license = (
            f"{code_span(seed.license)} (as its Hub card declares it)"
            if seed.license
            else "not declared in its Hub card"
        )
    elif seed.kind == "bundled":
        described = f"the bundled demo set (sha256 `{seed.sha256 or ''}`)"
        seed_license = seed.license or "unknown"
    else:
        described = f"a local file, {code_span(seed.name)}, sha256 `{seed.sha256 or ''}`"
        seed_license = "unknown (a local seed)"
    return {
        "seed_described": described,
        "seed_license": seed_license,
        "seed_access": " and ".join(word for word, on in (("gated", seed.gated), ("private", seed.private)) if on),
        "seed_loading_script": seed.loading_script,
        "feedback_text": seed.feedback_text,
        "seed_shape": seed.shape,
        "license": manifest.recipe.license,
        "endpoint": manifest.teacher.endpoint,
    }


def _filters_on(settings: FilterSettings | None) -> str:
    """The filters a build ran, in words, for the card's Quality section."""
    if settings is None:
        return ""
    named = []
    if settings.refusal:
        named.append("a refusal or empty text in the response or the improved response")
    if settings.length:
        named.append(f"an improved response shorter than {settings.min_length_ratio} of the response it improves")
    if settings.seed_leakage:
        named.append("an instruction that is a near-duplicate of a seed instruction")
    if settings.dedup_threshold not in (None, "off"):
        named.append(
            f"an instruction that is a near-duplicate (Jaccard {settings.dedup_threshold}) of one accepted before it"
        )
    return "; ".join(named)


SUBSET_METHODS = {
    "judge": "records whose improved response the judge preferred in both orders, a seeded random choice",
    "rouge-l": "diverse instructions: added in a seeded random order while their highest ROUGE-L F-measure "
    "against those chosen stays below {threshold}",
    "random": "a seeded random sample",
}


def selection_sections(manifest: Manifest) -> dict[str, Any]:
    """What the card says of the judge, the subset configs and decontamination."""
    judge = manifest.judge
    preference = manifest.files.get("preference")
    subsets = [
        {
            **subset.model_dump(mode="json"),
            "described": SUBSET_METHODS[subset.method].format(threshold=subset.rouge_l_threshold),
        }
        for subset in manifest.subsets or []
    ]
    contamination = manifest.filters.contamination if manifest.filters is not None else None
    return {
        "judge": judge,
        "judge_rows": schema_rows(JudgeColumn, JUDGED_RECORD_FEATURES[JUDGE_COLUMN]) if judge else [],
        "preference_rows": sum(split.rows for split in preference.splits.values()) if preference else manifest.records,
        "subsets": subsets,
        "contamination": contamination,
    }


def training_sections(manifest: Manifest, load_path: str, revision: str | None) -> dict[str, Any]:
    """What the sections for training, splits, limitations and reproducing need."""
    recipe = manifest.recipe
    configs = [config for config in CONFIG_FEATURES if config in manifest.files]
    sizes = {config: manifest.files[config].splits for config in configs}
    splits = list(sizes["default"]) if "default" in sizes else ["train"]
    split_stats = manifest.split_statistics or {}
    lengths = manifest.statistics.lengths
    first, improved = lengths["response"].mean, lengths["improved_response"].mean
    recipe_ref = f"hf://datasets/{load_path}@{revision}/recipe.toml" if revision else f"{load_path}/recipe.toml"
    return {
        "paper_url": PAPER_URL,
        "splits": splits,
        "has_test": "test" in splits,
        "split_rows": [
            {"config": c, **{split: sizes[c][split].rows if split in sizes[c] else 0 for split in splits}}
            for c in configs
        ],
        "split_stats": [
            {"measure": "records", **{split: stats.records for split, stats in split_stats.items()}},
            *[
                {
                    "measure": f"records from feature `{feature}`",
                    **{split: stats.per_feature.get(feature, 0) for split, stats in split_stats.items()},
                }
                for feature in manifest.statistics.per_feature
            ],
            *[
                {
                    "measure": f"mean length of `{name}` (characters)",
                    **{split: stats.lengths[name].mean for split, stats in split_stats.items()},
                }
                for name in lengths
            ],
        ]
        if split_stats
        else [],
        "test_size": recipe.test_size,
        "test_references": manifest.splits.test_references if manifest.splits is not None else 0,
        "sft_schema": schema_rows(SftExample, SFT_FEATURES),
        "preference_schema": schema_rows(PreferenceExample, PREFERENCE_FEATURES),
        "length_ratio": round(improved / first, 2) if first else None,
        "improved_mean": improved,
        "response_mean": first,
        "language_name": LANGUAGE_NAMES.get(recipe.language, f"`{recipe.language}`"),
        "seed_is_local": manifest.seed.kind == "local",
        "rebuild_command": f"python -m refed_hf.build --recipe {recipe_ref} --output DIR",
    }


def ablation_rows(manifest: Manifest) -> list[dict[str, Any]]:
    """The card's Ablations table: the paper's rows this release has configs for, with their rows."""
    if manifest.ablations is None:
        return []
    return [
        {
            "paper_row": row,
            "config": config,
            "holds": holds,
            "paper": figures,
            "rows": sum(split.rows for split in manifest.files[config].splits.values()),
        }
        for row, config, holds, figures in ABLATION_ROWS
        if config in manifest.files
    ]


def _checked_release(release: dict[str, Any]) -> dict[str, Any]:
    """An earlier release as its manifest on the Hub describes it: a teacher name that is not a model
    id (a manifest is a file anybody with write access may have edited) is not put into the card."""
    teacher = str(release.get("teacher", ""))
    return {**release, "teacher": teacher if MODEL_NAME.fullmatch(teacher) else "(not a model name)"}


def render_card(
    manifest: Manifest,
    example: dict[str, Any] | None,
    data_files: dict[str, dict[str, str]],
    load_path: str,
    revision: str | None = None,
    history: list[dict[str, Any]] | None = None,
    feedback_example: dict[str, Any] | None = None,
) -> str:
    """The README.md of a release, from its manifest, one example record (and its reference's feedback
    row) and its data file patterns.

    `load_path` and `revision` go into the loading lines (a local path, or the repo id and tag);
    `history` lists earlier releases, to which this one is added, newest first.
    """
    recipe = manifest.recipe
    offline = manifest.offline_demo
    pretty_name = "REFED (offline demo)" if offline else "REFED"
    totals = manifest.teacher.used
    failures = [
        {"stage": stage, "reason": reason, "count": count}
        for stage, counts in manifest.stages.items()
        for reason, count in counts.failed.items()
    ]
    stats = manifest.statistics
    this_release = {
        "version": f"v{recipe.version}",
        "date": manifest.created_at[:10],
        "records": manifest.records,
        "teacher": recipe.teacher_model,
    }
    card = DatasetCard.from_template(
        card_metadata(manifest, data_files, pretty_name),
        template_path=str(TEMPLATE),
        pretty_name=pretty_name,
        offline_demo=offline,
        version=recipe.version,
        records=manifest.records,
        wanted=recipe.size,
        shortfall=max(0, recipe.size - manifest.records),
        feedback_rows=manifest.feedback_rows,
        references_used=manifest.references_used,
        feedback_scope=manifest.feedback_scope,
        seed=manifest.seed.name,
        seed_code=code_span(manifest.seed.name),
        seed_split_code=code_span(recipe.seed_split),
        **seed_context(manifest),
        seed_split=recipe.seed_split,
        seed_rows=manifest.seed.rows,
        seed_kept=manifest.seed.kept,
        seed_dropped=", ".join(f"{n} {why.replace('_', '-')}" for why, n in manifest.seed.dropped.items()),
        teacher_model=recipe.teacher_model,
        temperature=recipe.temperature,
        top_p=recipe.top_p,
        max_tokens=recipe.max_tokens,
        random_seed=recipe.random_seed,
        prompt_set_version=manifest.prompt_set.version,
        prompt_set_hash=manifest.prompt_set.hash,
        library_versions=", ".join(f"{name} {v}" for name, v in manifest.library_versions.items()),
        record_schema=schema_rows(Record, RECORD_FEATURES)
        + (
            [
                {
                    "name": JUDGE_COLUMN,
                    "type": "struct (null when the judge's calls failed)",
                    "description": "The judge's verdict on `response` against `improved_response`, fields below.",
                }
            ]
            if manifest.judge
            else []
        ),
        **selection_sections(manifest),
        feedback_schema=schema_rows(prompt_set_of(manifest).feedback_row, config_features(manifest, "feedback")),
        prompt_set_name=prompt_set_of(manifest).name,
        ablations=ablation_rows(manifest),
        example=example_block(example),
        feedback_example=example_block(feedback_example),
        **training_sections(manifest, load_path, revision),
        per_feature=stats.per_feature,
        lengths=[{"field": name, **values.model_dump(mode="json")} for name, values in stats.lengths.items()],
        answers_used=totals.answers_used,
        prompt_tokens=totals.prompt_tokens,
        completion_tokens=totals.completion_tokens,
        cost=_cost(manifest),
        cached_share=f"{manifest.cached_share:.1%}",
        batch_api=manifest.batch_api,
        failures=failures,
        load_path=load_path,
        load_placeholder=load_path == PLACEHOLDER_REPO,
        revision=revision,
        history=sorted([*map(_checked_release, history or []), this_release], key=_version_order, reverse=True),
        quality=manifest.quality,
        filters=manifest.filters,
        filters_on=_filters_on(manifest.filters.settings if manifest.filters is not None else None),
    )
    return str(card)
