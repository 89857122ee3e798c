"""The release manifest: the resolved recipe and every count of how the release was made.

One typed, versioned model (`Manifest`), written as `manifest.json` by `write` and read back by `read`,
which carries a manifest of any earlier shape forward through `migrate`: the rest of the code reads
attributes, never keys. The JSON keeps the names and nesting users' scripts read; a part holding a
producer's open-ended dict (the recipe, the seed's provenance, the teacher's counters) keeps that
dict's keys in their order, types the ones read here and carries the rest as they are.
"""

from __future__ import annotations

import json
import platform
import resource
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from .. import __version__
from ..errors import ManifestError
from ..prompt_sets import describe, prompt_set_named
from ..recipe import Recipe
from ..teacher.accounting import Ledger
from ..teacher.prices import PRICES_CHECKED, Usage
from ..teacher_setup import recipe_pricing

SCHEMA_VERSION = 1
MANIFEST_FILE = "manifest.json"
LIBRARIES = ("datasets", "huggingface_hub", "openai", "pydantic", "tenacity", "pyarrow")
# A count written as the producer gave it: an int stays an int in the JSON, a float a float.
Number = int | float


class Part(BaseModel):
    """A part of the manifest: its JSON keys come back in the order they were given, and keys this
    model does not name are kept as they are (a newer or older producer's extra counts)."""

    model_config = ConfigDict(extra="allow")
    _order: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _remember_order(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        part = handler(data)
        if isinstance(data, dict):
            part._order = list(data)
        return part

    @model_serializer(mode="wrap")
    def _in_given_order(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        rank = {key: index for index, key in enumerate(self._order)}
        return dict(sorted(data.items(), key=lambda item: rank.get(item[0], len(rank))))


class BuiltRecipe(Part):
    """The resolved recipe as `Recipe.public_dict` gives it; the fields read back are typed. Defaults
    are for manifests written before the field existed."""

    seed: str
    seed_split: str
    teacher_model: str
    size: int
    random_seed: int
    version: str
    temperature: float
    top_p: float
    max_tokens: int
    test_size: Number = 0
    language: str = "en"
    license: str = "cc-by-nc-4.0"
    prompt_set: str = "concise"  # before prompt sets were selectable, every build used today's `concise`
    ablations: bool = False

    def matches(self, fields: dict[str, Any]) -> bool:
        """Whether every field of `fields` was built with this value (a field this manifest lacks
        matches nothing)."""
        written = self.model_dump(mode="json", exclude_unset=True)
        return all(written.get(name) == value for name, value in fields.items())


class Seed(Part):
    """The seed report and the seed's public provenance (which keys exist depends on its kind)."""

    source: str
    rows: int
    kept: int
    dropped: dict[str, int]
    shape: str = ""
    kind: str = "local"
    name: str
    split: str | None = None
    revision: str | None = None
    sha: str | None = None
    sha256: str | None = None
    config: str | None = None
    loading_script: str | None = None
    license: str | None = None
    gated: bool = False
    private: bool = False
    feedback_text: bool = True


class Stage(Part):
    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    items_in: int = Field(alias="in")
    items_out: int = Field(alias="out")
    failed: dict[str, int]


class TeacherCalls(Part):
    """The teacher's counters of this run (the ledger's own keys)."""

    requests: int
    answers: int
    cache_hits: int
    rate_limited: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int


class TeacherUsed(Part):
    """What the release's records used, whether paid this run or read from the cache."""

    answers_used: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int


class TeacherPart(Part):
    model: str
    endpoint: str = ""  # its kind only ("OpenAI", ...): never the URL
    this_run: TeacherCalls
    used: TeacherUsed


class Cost(Part):
    priced_at: str
    prices_per_million_usd: dict[str, Number] | None
    prices_checked: str
    release_direct_usd: float | None
    release_batch_usd: float | None


class BatchApi(Part):
    waves: int
    batches: int
    lines: int
    retried_lines: int
    failed_lines: int


class Lengths(Part):
    mean: Number
    median: Number


class Statistics(Part):
    records: int
    per_feature: dict[str, int]
    lengths: dict[str, Lengths]


class PromptSet(Part):
    # Releases made before prompt sets were selectable were all built with the `concise` wording.
    name: str = "concise"
    version: str
    hash: str


class Ablations(Part):
    """The paper's ablation configs a release holds (`--ablations`), their rows, and what was left out."""

    configs: list[str]
    rows: dict[str, int]
    sample_feedback_missing: int
    seed_config_omitted: bool


class Timeouts(Part):
    request_timeout_s: Number
    max_timeout_retries: int
    timeouts: int
    latency_p95_s: Number | None
    advice: str | None


class Splits(Part):
    test_size: Number
    test_references: int
    rows: dict[str, dict[str, int]]


class FilterSettings(Part):
    dedup_threshold: Number | str | None = None
    seed_leakage: bool = False
    refusal: bool = False
    length: bool = False
    min_length_ratio: Number | None = None


class ContaminationSource(Part):
    """One evaluation set instructions were checked against: named as the card names it (a Hub id at
    its revision, or a local file by its sha256, never its path)."""

    source: str
    prompts: int
    contamination_drops: int


class Contamination(Part):
    ngram: int
    sources: list[ContaminationSource]


class StageDrops(Part):
    """Items a stage's filters judged, and the drops among them by filter."""

    screened: int = 0
    dropped: dict[str, int] = {}


class RefillPart(Part):
    """How the run refilled (timing-dependent, unlike the records): calls started for items past the
    last one the release needed, and the seconds to the first record accepted."""

    speculative_calls: int = 0
    first_record_s: float | None = None


class Filters(Part):
    """Drops per filter; `api_refusals` alone when the build screened nothing."""

    settings: FilterSettings | None = None
    screened: int = 0
    kept: int = 0
    dropped: dict[str, int] = {}
    index_size: int = 0
    by_stage: dict[str, StageDrops] = {}
    api_refusals: int = 0
    contamination: Contamination | None = None


class JudgeResults(Part):
    """The judge's verdicts over the kept records: `win_rate` is the share of records whose improved
    response won in both orders; a record whose judge calls failed has no verdict and counts as no win."""

    model: str
    records: int
    judged: int
    improved: int
    original: int
    tie: int
    disagreements: int
    win_rate: float | None
    tie_share: float | None
    disagreement_share: float | None


class Subset(Part):
    """A subset config `sft-METHOD-N`: fewer `rows` than `wanted` when `candidates` ran out."""

    config: str
    method: str
    wanted: int
    rows: int
    candidates: int
    rouge_l_threshold: float | None = None
    tokenizer: str | None = None


class SplitFiles(Part):
    num_bytes: int
    download_size: int
    shards: int
    rows: int


class ConfigFiles(Part):
    """One config's parquet files: totals, and per split."""

    num_bytes: int
    download_size: int
    shards: int
    splits: dict[str, SplitFiles]


class Figure(Part):
    file: str
    alt: str


class Quality(Part):
    """The quality report's numbers (see `release/report.py`) and its figures."""

    distinct_2gram_ratio: float | None
    distinct_2gram_sample: int
    mean_pairwise_similarity: float | None
    pairwise_similarity_sample: int
    changed_over_percent: Number
    changed_share: float | None
    changed_sample: int
    median_improved_to_response_ratio: float | None
    figures: list[Figure]


class Manifest(BaseModel):
    """`manifest.json`: fields in the order they are written; `split_statistics` (with a test split) and
    `quality` (once the report is drawn) only when there are some. Unset fields are not written."""

    model_config = ConfigDict(extra="allow")

    schema_version: int = SCHEMA_VERSION
    name: str = "REFED"
    version: str
    created_at: str
    offline_demo: bool = False
    recipe: BuiltRecipe
    seed: Seed
    records: int
    wanted: int
    shortfall: int
    feedback_rows: int
    references_used: int
    feedback_scope: str = "all"  # releases built before the scope existed had feedback for every reference
    stages: dict[str, Stage]
    refill: RefillPart | None = None
    teacher: TeacherPart
    estimated_cost_usd: float | None
    this_run_cost_usd: float | None = None
    cost: Cost | None = None
    cached_share: float = 0.0
    batch_api: BatchApi | None = None
    statistics: Statistics
    wall_time_s: float = 0.0
    cpu_time_s: float = 0.0
    peak_rss_mib: float = 0.0
    prompt_set: PromptSet
    library_versions: dict[str, str]
    shortfall_reason: str | None = None
    timeouts: Timeouts | None = None
    splits: Splits | None = None
    split_statistics: dict[str, Statistics] | None = None
    filters: Filters | None = None
    judge: JudgeResults | None = None
    subsets: list[Subset] | None = None
    files: dict[str, ConfigFiles] = {}
    quality: Quality | None = None
    ablations: Ablations | None = None

    def split_names(self) -> list[str]:
        """The splits the release was written with (every config has the same)."""
        default = self.files.get("default")
        return list(default.splits) if default is not None else ["train"]

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_unset=True), indent=2, ensure_ascii=False) + "\n"


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "refed-hf": __version__}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def make_manifest(
    recipe: Recipe,
    seed: dict[str, Any],
    outcome: dict[str, Any],
    stage_items: dict[str, tuple[int, int]],
    ledger: Ledger,
    statistics: dict[str, Any],
    started: float,
    offline_demo: bool = False,
    endpoint: str = "",
    batch: dict[str, Any] | None = None,
    stage_failed: dict[str, dict[str, int]] | None = None,
) -> Manifest:
    """The manifest from plain values: the seed report, the synthesis outcome (records, wanted,
    shortfall, feedback_rows, references_used, feedback_scope) and items (in, out) per stage, in order.
    `endpoint` names the teacher's endpoint by kind, never by URL (nothing local is published).
    The build adds the parts known later: timeouts, splits, filters, then the writer files and quality.
    `stage_failed` holds the items lost per stage and reason as the release's order counted them; a stage
    it leaves out takes the ledger's count (its calls were all needed)."""
    total = ledger.total()
    failed = {stage: dict(ledger.stage(stage).failures) for stage in stage_items} | dict(stage_failed or {})
    pricing = recipe_pricing(recipe)
    prices = pricing.default  # the teacher's, which the manifest lists
    stages = ledger.stages.items()

    def usd(usages: dict[str, Usage], at_batch_rates: bool = recipe.batch) -> float | None:
        # Each stage at its model's rates (the judge's may be another model's); None, not a guess,
        # when a model's prices are unknown.
        cost = pricing.cost(usages, at_batch_rates)
        return None if cost is None else round(cost, 6)

    used = {stage: counts.used_usage() for stage, counts in stages}
    paid = {stage: counts.usage() for stage, counts in stages}

    return Manifest(
        schema_version=SCHEMA_VERSION,
        name="REFED",
        version=recipe.version,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        offline_demo=offline_demo,
        recipe=BuiltRecipe.model_validate(recipe.public_dict()),
        seed=Seed.model_validate(seed),
        **{
            name: outcome[name]
            for name in ("records", "wanted", "shortfall", "feedback_rows", "references_used", "feedback_scope")
        },
        stages={
            stage: Stage.model_validate(
                {"in": items_in, "out": items_out, "failed": dict(sorted(failed[stage].items()))}
            )
            for stage, (items_in, items_out) in stage_items.items()
        },
        teacher=TeacherPart(
            model=recipe.teacher_model,
            endpoint=endpoint,
            this_run=TeacherCalls.model_validate(
                {**total.as_dict(), "by_stage": {s: c.as_dict() for s, c in ledger.stages.items()}}
            ),
            used=TeacherUsed(
                answers_used=total.used_answers,
                prompt_tokens=total.used_prompt_tokens,
                completion_tokens=total.used_completion_tokens,
                cached_tokens=total.used_cached_tokens,
            ),
        ),
        estimated_cost_usd=usd(used),
        this_run_cost_usd=usd(paid),
        cost=Cost(
            priced_at="batch" if recipe.batch else "direct",
            prices_per_million_usd=prices.as_dict() if prices else None,
            prices_checked=PRICES_CHECKED,
            release_direct_usd=usd(used, False),
            release_batch_usd=usd(used, True),
        ),
        cached_share=round(total.used_cached_tokens / total.used_prompt_tokens, 4) if total.used_prompt_tokens else 0.0,
        batch_api=None if batch is None else BatchApi.model_validate(batch),
        statistics=Statistics.model_validate(statistics),
        wall_time_s=round(time.monotonic() - started, 3),
        cpu_time_s=round(time.process_time(), 3),
        peak_rss_mib=round(_peak_rss_bytes() / 2**20, 1),
        prompt_set=PromptSet.model_validate(describe(prompt_set_named(recipe.prompt_set))),
        library_versions=library_versions(),
    )


# Rows of a config in a manifest written before per-split sizes: the counts it had at the top level.
_CONFIG_ROWS = {"default": "records", "feedback": "feedback_rows", "sft": "records", "preference": "records"}


def migrate(raw: dict[str, Any]) -> dict[str, Any]:
    """A manifest of any earlier shape in today's (schema_version 1). The recipe's and the seed's
    fields an older build did not record read as the defaults their models declare."""
    raw = dict(raw)
    if raw.get("schema_version", 0) < 1:
        # Before schema_version: releases built before provenance named the seed by `source` only,
        # before splits had one split (`train`) with the totals, before costs had no `cost` part.
        seed = dict(raw.get("seed") or {})
        seed.setdefault("name", seed.get("source", ""))
        raw["seed"] = seed
        raw["files"] = {
            config: sizes if "splits" in sizes else _one_split(sizes, raw.get(_CONFIG_ROWS.get(config, "records"), 0))
            for config, sizes in (raw.get("files") or {}).items()
        }
        raw["schema_version"] = 1
    return raw


def _one_split(sizes: dict[str, Any], rows: int) -> dict[str, Any]:
    totals = {key: sizes.get(key, 0) for key in ("num_bytes", "download_size", "shards")}
    return {**sizes, "splits": {"train": {**totals, "rows": rows}}}


def parse(text: str) -> Manifest:
    """A manifest from the text of a `manifest.json`, of this or any earlier schema version."""
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        if raw.get("schema_version", 0) > SCHEMA_VERSION:
            raise ManifestError(
                f"manifest schema_version {raw['schema_version']} is newer than this refed-hf reads "
                f"({SCHEMA_VERSION}): upgrade refed-hf"
            )
        return Manifest.model_validate(migrate(raw))
    except (ValueError, ValidationError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        where = f" (field {'.'.join(str(p) for p in first['loc'])}: {first['msg']})" if first else f" ({exc})"
        raise ManifestError(f"not a REFED manifest{where}: rebuild the release") from None


def read(path: str | Path) -> Manifest:
    """`manifest.json` of a release (a release directory, or the file itself)."""
    file = Path(path)
    if file.is_dir():
        file = file / MANIFEST_FILE
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"cannot read {file}: {exc.strerror} (is it a REFED release?)") from None
    try:
        return parse(text)
    except ManifestError as exc:
        raise ManifestError(f"{file}: {exc}") from None


def write(path: str | Path, manifest: Manifest) -> None:
    """Write `manifest` to `path` (a release directory, or the file itself): the fields that were set,
    in their order."""
    file = Path(path)
    if file.is_dir():
        file = file / MANIFEST_FILE
    file.write_text(manifest.to_json(), encoding="utf-8")
