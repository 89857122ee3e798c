"""The recipe: every choice that shapes a release, from a TOML file and the command line.

The resolved recipe is written to the release manifest, so it holds no secrets: keys are read from
the environment by `settings`, never stored here.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from .errors import RecipeError
from .hub_licenses import HUB_LICENSES
from .recipe_fetch import fetch_recipe, is_hub_reference
from .recipe_fields import field_specs, option
from .subset_spec import SubsetSpec, parse_subsets

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Every name pattern is used with `fullmatch`: `$` would also match before a final newline.
REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*", re.ASCII)
LOCAL_SEED_SUFFIXES = (".json", ".jsonl", ".parquet", ".csv")
SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)", re.ASCII)
LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*", re.ASCII)
MODEL_NAME = re.compile(r"[A-Za-z0-9][\w.:/@+-]{0,199}", re.ASCII)
# Beyond these a count is a typo or an attack on the arithmetic, not a build anybody means to pay for.
MAX_COUNT = 100_000_000
MAX_TOKEN_COUNT = 10**12  # a provider's token limits (per minute, enqueued) run to billions
# The prompt sets `refed_hf.prompt_sets` defines, named here so the recipe stays light to import.
PROMPT_SET_NAMES = ("paper", "concise")
# The first line of a published `recipe.toml` (refed_hf/published_recipe.py).
PUBLISHED_HEADER = "# The recipe of this REFED release: every field that shapes the data."
# Releases published before prompt sets were selectable were built with today's `concise` wording; their
# recipe.toml does not name it, and rebuilding one must not switch it to the newer default.
EARLIER_PROMPT_SET = "concise"


class Prices(BaseModel):
    """US dollars per million tokens, overriding the price table (`refed_hf/teacher/prices.py`)
    field by field; a model the table lacks needs at least `prompt` and `completion`."""

    model_config = ConfigDict(extra="forbid")

    prompt: float | None = Field(None, ge=0, description="prompt tokens, direct calls")
    cached_prompt: float | None = Field(None, ge=0, description="cached prompt tokens, direct calls")
    completion: float | None = Field(None, ge=0, description="completion tokens, direct calls")
    batch_prompt: float | None = Field(None, ge=0, description="prompt tokens through the Batch API")
    batch_cached_prompt: float | None = Field(None, ge=0, description="cached prompt tokens through the Batch API")
    batch_completion: float | None = Field(None, ge=0, description="completion tokens through the Batch API")


class Recipe(BaseModel):
    """What to build. Each field declares its concern, whether it shapes the data, its description and
    default (`option`, refed_hf/recipe_fields.py); the flags, `recipe.toml` and the docs follow from them.

    Fields stay in this order, not grouped by concern: it is the order of the manifest's recipe and of
    `recipe.toml`, so a rebuild writes the same bytes (and `test_size` is checked against `size`).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    seed: str = option(
        "GAIR/lima",
        "Hub dataset or local path",
        group="seed",
        shapes_data=True,
        from_hub=True,
        metavar="NAME_OR_PATH",
        offline="demo",
    )
    seed_split: str = option("train", "split of the seed", group="seed", shapes_data=True, from_hub=True)
    teacher_model: str = option(
        "gpt-4o-mini",
        "teacher model or Azure deployment; with --teacher-gguf, the file's name",
        group="teacher",
        shapes_data=True,
        from_hub=True,
        offline="SmolLM2-135M-Instruct",
    )
    base_url: str | None = option(
        None, "OpenAI-compatible endpoint", group="teacher", unset="$OPENAI_BASE_URL or OpenAI"
    )
    azure: bool = option(False, "use Azure OpenAI (AZURE_OPENAI_* variables)", group="teacher")
    size: int = option(
        10000,
        "records wanted",
        group="sampling",
        shapes_data=True,
        from_hub=True,
        metavar="N",
        offline=8,
        ge=1,
        le=MAX_COUNT,
    )
    random_seed: int = option(0, "seed of every sampling choice", group="sampling", shapes_data=True, from_hub=True)
    test_size: int | float = option(
        0,
        "held-out split `test`, whole references: a fraction below 1 or a count of records; 0 = none",
        group="split",
        shapes_data=True,
        from_hub=True,
        metavar="X",
        ge=0,
    )
    language: str = option(
        "en", "language code of the records, for the card", group="card", shapes_data=True, from_hub=True
    )
    concurrency: int = option(
        64,
        "teacher calls in flight at most; with a local teacher, local_parallel",
        group="run",
        ge=1,
        le=4096,
    )
    max_rpm: int | None = option(
        None, "teacher requests per minute at most", group="run", unset="no limit", ge=1, le=MAX_COUNT
    )
    max_tpm: int | None = option(
        None, "teacher tokens per minute at most", group="run", unset="no limit", ge=1, le=MAX_TOKEN_COUNT
    )
    output: str = option("./refed-release", "where releases are written", group="run", metavar="DIR")
    version: str = option("0.1.0", "release version X.Y.Z", group="card", shapes_data=True, from_hub=True)
    # The embedded 135M demo model drifts into runs of digits at temperature 1 (each such answer runs to
    # max_tokens and is asked again): offline, it samples closer to its most likely tokens.
    temperature: float = option(
        1.0,
        "sampling temperature of every teacher call",
        group="sampling",
        shapes_data=True,
        from_hub=True,
        offline=0.7,
        ge=0,
        le=2,
    )
    top_p: float = option(
        1.0,
        "nucleus sampling mass of every teacher call",
        group="sampling",
        shapes_data=True,
        from_hub=True,
        offline=0.9,
        gt=0,
        le=1,
    )
    max_tokens: int = option(
        4096,
        "completion tokens at most per teacher call",
        group="sampling",
        shapes_data=True,
        from_hub=True,
        offline=1024,
        ge=16,
        le=MAX_TOKEN_COUNT,
    )
    structured_outputs: bool = option(
        True,
        "send response_format json_schema; turn it off for endpoints without structured outputs",
        group="teacher",
        shapes_data=True,
        from_hub=True,
    )
    max_reasks: int = option(
        2, "re-asks when an answer does not validate", group="teacher", shapes_data=True, from_hub=True, ge=0, le=10
    )
    max_retries: int = option(8, "retries of a failed call", group="run", ge=0, le=50)
    request_timeout: float = option(120.0, "seconds per call", group="run", gt=0, le=86400)
    max_timeout_retries: int = option(
        2, "retries of a timed-out call, each with twice the time", group="run", ge=0, le=10
    )
    prices: Prices = option(
        Prices(),
        "a TOML table of US dollars per million tokens, overriding the price table field by field "
        "(with a local teacher: 0); a model the table lacks needs at least prompt and completion",
        group="run",
        unset="the price table",
        flag=False,
    )
    batch: bool = option(
        False,
        "send every teacher call through the Batch API (half price, answers within 24 h); a rerun re-attaches",
        group="run",
    )
    batch_poll_max: float = option(
        60.0, "longest wait between batch status checks, in seconds", group="run", metavar="S", gt=0, le=86400
    )
    batch_token_limit: int | None = option(
        None,
        "the provider's enqueued-token limit for the model: batches beyond it wait",
        group="run",
        metavar="N",
        unset="none",
        ge=1,
        le=MAX_TOKEN_COUNT,
    )
    max_budget: float | None = option(
        None,
        "stop starting teacher calls once this run's estimated spend would pass this many US dollars",
        group="run",
        metavar="USD",
        unset="no limit",
        gt=0,
        allow_inf_nan=False,
    )
    repo_id: str | None = option(
        None, "Hub dataset repo to publish to (needed with --push)", group="publish", metavar="ORG/NAME"
    )
    private: bool = option(False, "create the repo private", group="publish")
    offline: bool = option(
        False,
        "embedded local teacher (SmolLM2-135M via llama.cpp), bundled seed, no network",
        group="teacher",
        shapes_data="local",
        from_hub=True,
    )
    teacher_gguf: str | None = option(
        None, "embedded local teacher serving this GGUF chat model", group="teacher", metavar="PATH"
    )
    local_context: int = option(
        16384,
        "context window of the embedded local teacher, in tokens",
        group="teacher",
        shapes_data="local",
        from_hub=True,
        flag=False,
        ge=1024,
    )
    local_parallel: int = option(
        4, "parallel slots of the embedded local teacher", group="teacher", flag=False, ge=1, le=64
    )
    seed_revision: str = option(
        "main",
        "branch, tag or commit of a Hub seed, resolved to a commit sha at start",
        group="seed",
        shapes_data=True,
        from_hub=True,
        metavar="REV",
    )
    seed_config: str | None = option(
        None, "config of a Hub seed that has several", group="seed", shapes_data=True, from_hub=True, metavar="NAME"
    )
    instruction_column: str | None = option(
        None,
        "seed column holding the instruction (with --response-column)",
        group="seed",
        shapes_data=True,
        from_hub=True,
        metavar="NAME",
    )
    response_column: str | None = option(
        None, "seed column holding the response", group="seed", shapes_data=True, from_hub=True, metavar="NAME"
    )
    context_column: str | None = option(
        None,
        "seed column joined to the instruction after a blank line",
        group="seed",
        shapes_data=True,
        from_hub=True,
        metavar="NAME",
    )
    max_reference_tokens: int = option(
        8000,
        "drop longer references (characters / 4) before any call",
        group="seed",
        shapes_data=True,
        from_hub=True,
        metavar="N",
        ge=1,
        le=MAX_COUNT,
    )
    license: str = option(
        "cc-by-nc-4.0", "Hub license id of the release", group="card", shapes_data=True, from_hub=True, metavar="ID"
    )
    feedback_text: Literal["include", "omit", "auto"] = option(
        "auto",
        "republish the seed's texts in config feedback; auto = not for a gated or private seed",
        group="card",
        shapes_data=True,
        from_hub=True,
    )
    dedup_threshold: float | Literal["off"] = option(
        0.8,
        "drop instructions this near (Jaccard of word 2-grams) to an earlier one; 1.0 = exact "
        "duplicates only, off = keep duplicates",
        group="filters",
        shapes_data=True,
        from_hub=True,
        metavar="J|off",
    )
    seed_leakage_filter: bool = option(
        True,
        "drop instructions that are near-duplicates of a seed instruction",
        group="filters",
        shapes_data=True,
        from_hub=True,
    )
    refusal_filter: bool = option(
        True, "drop responses that are refusals, apologies or empty", group="filters", shapes_data=True, from_hub=True
    )
    length_filter: bool = option(
        True,
        "drop improved responses much shorter than the response they improve",
        group="filters",
        shapes_data=True,
        from_hub=True,
    )
    min_length_ratio: float = option(
        0.5,
        "length filter: the improved response is at least this fraction of the response's length",
        group="filters",
        shapes_data=True,
        from_hub=True,
        metavar="R",
        gt=0,
        le=1,
    )
    feedback_scope: Literal["used", "all"] = option(
        "used",
        "write reference-level feedback for the references records are drawn from (used), or for every "
        "reference of the seed as the paper's collection step did (all)",
        group="seed",
        shapes_data=True,
        from_hub=True,
    )

    judge: bool = option(
        False,
        "an LLM judge compares each kept record's response with its improved response, in both orders; "
        "config preference then keeps only the pairs it confirms",
        group="selection",
        shapes_data=True,
        from_hub=True,
    )
    judge_model: str | None = option(
        None,
        "the judge's model, on the teacher's endpoint",
        group="selection",
        shapes_data=True,
        from_hub=True,
        metavar="NAME",
        unset="the teacher model",
    )
    subsets: str | None = option(
        None,
        "subset configs sft-METHOD-N from split train: comma-separated METHOD:N, METHOD one of judge "
        "(needs --judge), rouge-l, random; e.g. judge:1000,rouge-l:2000,random:2000",
        group="selection",
        shapes_data=True,
        from_hub=True,
        metavar="SPEC",
        unset="none",
    )
    rouge_l_threshold: float = option(
        0.7,
        "rouge-l subsets: a record is added while its highest ROUGE-L F-measure against those chosen is below this",
        group="selection",
        shapes_data=True,
        from_hub=True,
        metavar="R",
        gt=0,
        le=1,
    )
    decontaminate: list[str] = option(
        [],
        "drop instructions sharing a long word n-gram with a prompt of this evaluation set (Hub dataset id or "
        "local file or directory), before their responses are bought; repeatable",
        group="filters",
        shapes_data=True,
        from_hub=True,
        metavar="SOURCE",
        unset="none",
    )
    decontaminate_column: str | None = option(
        None,
        "column of the evaluation sets holding the prompts, when their shape is not one the seed reader knows",
        group="filters",
        shapes_data=True,
        from_hub=True,
        metavar="NAME",
    )
    decontaminate_ngram: int = option(
        13,
        "words in the n-gram an instruction may not share with an evaluation prompt (a shorter prompt counts "
        "when the instruction contains it whole)",
        group="filters",
        shapes_data=True,
        from_hub=True,
        metavar="N",
        ge=1,
    )

    prompt_set: str = option(
        "paper",
        "the teacher's prompts: paper (the published method's, element for element) or concise (this "
        "tool's shorter wording, with a system message and feedback as lists)",
        group="teacher",
        shapes_data=True,
        from_hub=True,
        metavar="NAME",
        # The embedded 135M demo model is asked with the shorter wording it was tuned for: the paper's longer
        # prompts and prose answers take it past the demo's few minutes on two CPU cores.
        offline="concise",
    )
    ablations: bool = option(
        False,
        "also write the paper's ablation configs sft-seed, sft-instruction-feedback and sft-sample-feedback "
        "(the last costs two teacher calls per record)",
        group="card",
        shapes_data=True,
        from_hub=True,
    )

    @property
    def local(self) -> bool:
        """The teacher is the embedded llama.cpp server (--offline or --teacher-gguf)."""
        return self.offline or self.teacher_gguf is not None

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not SEMVER.fullmatch(value):
            raise ValueError("must be a semantic version X.Y.Z, e.g. 1.0.0")
        return value

    @field_validator("seed", "seed_split", "teacher_model", "output", "base_url", "teacher_gguf")
    @classmethod
    def _names_something(cls, value: str | None) -> str | None:
        # An empty name would reach the release (e.g. a card naming no teacher) or fail on every call.
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("test_size")
    @classmethod
    def _test_size(cls, value: int | float, info: ValidationInfo) -> int | float:
        if not math.isfinite(value) or value > MAX_COUNT:
            raise ValueError(f"must be a fraction below 1 (e.g. 0.1) or a count of records below {MAX_COUNT}")
        if value >= 1 and float(value) != int(value):
            raise ValueError("must be a fraction below 1 (e.g. 0.1) or a whole number of records (e.g. 200)")
        value = int(value) if value >= 1 else value
        size = info.data.get("size")
        if value >= 1 and size is not None and value >= size:
            raise ValueError(f"a count of test records must be below --size ({size}); or give a fraction, e.g. 0.1")
        return value

    @field_validator("prompt_set")
    @classmethod
    def _prompt_set(cls, value: str) -> str:
        if value not in PROMPT_SET_NAMES:
            raise ValueError(f"unknown prompt set '{value}': choose one of {', '.join(PROMPT_SET_NAMES)}")
        return value

    @field_validator("license")
    @classmethod
    def _license(cls, value: str) -> str:
        if value not in HUB_LICENSES:
            raise ValueError("must be a license id the Hub lists, e.g. cc-by-nc-4.0, apache-2.0, mit (or other)")
        return value

    @field_validator("teacher_model", "judge_model")
    @classmethod
    def _model_name(cls, value: str | None) -> str | None:
        # The name reaches the card (and, from a fetched recipe, comes from a stranger): a model id only.
        if value is not None and not MODEL_NAME.fullmatch(value):
            raise ValueError("must be a model or deployment name: letters, digits and . _ - : / @ + (at most 200)")
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if not LANGUAGE.fullmatch(value):
            raise ValueError("must be a language code as the Hub lists them, e.g. en, fr, zh")
        return value

    @field_validator("dedup_threshold", mode="before")
    @classmethod
    def _dedup_threshold(cls, value: Any) -> float | str:
        if isinstance(value, str) and value.strip().lower() == "off":
            return "off"
        try:
            threshold = float(value)
        except (TypeError, ValueError):
            threshold = -1.0
        if not 0 < threshold <= 1:
            raise ValueError("must be a Jaccard similarity in (0, 1] (1.0 = exact duplicates only) or off")
        return threshold

    @field_validator("subsets")
    @classmethod
    def _subsets(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        specs = parse_subsets(value)
        if any(spec.method == "judge" for spec in specs) and not info.data.get("judge"):
            raise ValueError("judge:N subsets are chosen by the judge: add --judge, or use rouge-l:N or random:N")
        return ",".join(f"{spec.method}:{spec.written}" for spec in specs) or None

    @field_validator("repo_id")
    @classmethod
    def _repo_id(cls, value: str | None) -> str | None:
        if value is None:
            return value
        # The Hub client's own rules (no `--`, `..` or `.git` ending, at most 96 characters), so a name
        # the Hub refuses stops the run here rather than after the build is paid for. Imported here:
        # huggingface_hub reads its environment at import, which the CLI sets after the recipe module.
        from huggingface_hub.utils import HFValidationError, validate_repo_id  # noqa: PLC0415

        if not REPO_ID.fullmatch(value):
            raise ValueError("must be ORG/NAME, e.g. my-org/refed")
        try:
            validate_repo_id(value)
        except HFValidationError:
            raise ValueError(
                "is not a name the Hub accepts (letters, digits, - _ . ; no -- or .., no .git ending, "
                "at most 96 characters): e.g. my-org/refed"
            ) from None
        return value

    def subset_specs(self) -> list[SubsetSpec]:
        return parse_subsets(self.subsets) if self.subsets else []

    def content_fields(self) -> dict[str, Any]:
        """The fields that decide what a release holds (not where it goes or how fast it is built),
        as the manifest records them (a local seed by its file name)."""
        public = self.public_dict()
        return {name: public.get(name) for name in CONTENT_FIELDS}

    def public_dict(self) -> dict[str, Any]:
        """The recipe as written to the manifest and the card: nothing local or internal is
        published, so no output directory, no endpoint URL, and local files by their name only."""
        public = self.model_dump(mode="json", exclude={"output", "base_url"})
        if is_local_seed(self.seed):
            public["seed"] = Path(self.seed).name
        if self.teacher_gguf:
            public["teacher_gguf"] = Path(self.teacher_gguf).name
        public["decontaminate"] = [
            Path(source).name if is_local_seed(source) else source for source in self.decontaminate
        ]
        return public


FIELDS = field_specs(Recipe)
# What decides a release's content (the same-release check) and what `recipe.toml` publishes: the
# fields that shape the data, plus, when the teacher is the embedded local server, those that shape
# its answers.
CONTENT_FIELDS = tuple(spec.name for spec in FIELDS if spec.shapes_data is True)
LOCAL_TEACHER_FIELDS = tuple(spec.name for spec in FIELDS if spec.shapes_data == "local")
# What a recipe fetched from the Hub may set: declared on each field (`from_hub`).
FROM_HUB_FIELDS = frozenset(spec.name for spec in FIELDS if spec.from_hub)

# What --offline changes unless the recipe or a flag says otherwise: the bundled seed, a size that
# builds in minutes on two CPU cores, and a short answer budget for a small model.
OFFLINE_DEFAULTS: dict[str, Any] = {spec.name: spec.offline_default for spec in FIELDS if spec.has_offline_default}


def default_of(name: str) -> Any:
    """A field's default, as declared on the field."""
    return Recipe.model_fields[name].default


def is_local_seed(seed: str) -> bool:
    """A seed given as a path (or the bundled `demo`), not a Hub dataset id."""
    if seed == "demo" or seed.startswith((".", "/", "~")) or seed.endswith(LOCAL_SEED_SUFFIXES):
        return True
    return not REPO_ID.fullmatch(seed) or Path(seed).expanduser().exists()


def _describe(error: ValidationError, origin: str) -> str:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "?"
    if first["type"] == "extra_forbidden":
        known = ", ".join(sorted(Recipe.model_fields))
        return f"unknown recipe field '{field}' in {origin}; known fields: {known}"
    flag = "--" + field.split(".")[0].replace("_", "-")
    return f"bad recipe field '{field}' in {origin}: {first['msg']} (fix it there or pass {flag})"


def with_earlier_defaults(text: str, data: dict[str, Any]) -> dict[str, Any]:
    """A published recipe's fields, with the prompt set it was built with when it predates the field."""
    if text.startswith(PUBLISHED_HEADER) and "prompt_set" not in data:
        return {**data, "prompt_set": EARLIER_PROMPT_SET}
    return data


def _fetched_refusals(data: dict[str, Any], reference: str, overrides: dict[str, Any]) -> None:
    """A recipe from the Hub is somebody else's file: it may set only the fields declared `from_hub`
    (those that shape the data), never where keys, files, pushes or money go."""
    refused = sorted(name for name in data if name in Recipe.model_fields and name not in FROM_HUB_FIELDS)
    if refused:
        raise RecipeError(
            f"the recipe {reference} comes from the Hub and may set only fields that shape the data, but it "
            f"also sets {', '.join(refused)}: give these yourself as flags if you mean them, or drop them from "
            "a local copy of the recipe"
        )
    seed = data.get("seed")
    if isinstance(seed, str) and seed != "demo" and is_local_seed(seed) and "seed" not in overrides:
        raise RecipeError(
            f"the recipe {reference} names a local seed {Path(seed).name!r}: pass your own copy with --seed PATH"
        )
    sources = data.get("decontaminate")
    local = [s for s in sources if isinstance(s, str) and is_local_seed(s)] if isinstance(sources, list) else []
    if local and "decontaminate" not in overrides:
        raise RecipeError(
            f"the recipe {reference} names a local evaluation set {Path(local[0]).name!r}: pass your own copies "
            "with --decontaminate PATH"
        )


def _read_toml(file: Path, origin: str) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"recipe {origin} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise RecipeError(f"recipe {origin} is not UTF-8 text: save it as UTF-8") from None
    except RecursionError:
        raise RecipeError(f"recipe {origin} nests tables or arrays too deeply: flatten it") from None
    except OSError as exc:
        raise RecipeError(f"cannot read the recipe {origin}: {exc.strerror} (check --recipe)") from None
    return with_earlier_defaults(text, {key.replace("-", "_"): value for key, value in data.items()})


def load_recipe(path: str | Path | None, overrides: dict[str, Any]) -> Recipe:
    """The recipe from a TOML file (if any) with `overrides` (the flags that were given) on top.

    A file fetched from the Hub (`hf://...`) is data, not configuration: see `_fetched_refusals`.
    A local file is the user's own and may set every field."""
    data: dict[str, Any] = {}
    origin = "the command line"
    if path is not None:
        fetched = is_hub_reference(path)
        file = fetch_recipe(str(path)) if fetched else Path(path)
        if not file.is_file():
            raise RecipeError(f"recipe file not found: {file} (check --recipe)")
        origin = str(path)
        data = _read_toml(file, origin)
        if fetched:
            _fetched_refusals(data, origin, overrides)
    try:
        Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(_describe(exc, origin)) from None
    merged = {**data, **overrides}
    defaults: dict[str, Any] = dict(OFFLINE_DEFAULTS) if merged.get("offline") else {}
    if merged.get("offline") or merged.get("teacher_gguf"):
        # A local teacher: as many calls as the server has slots, at no cost per token.
        defaults.update(
            concurrency=merged.get("local_parallel", default_of("local_parallel")),
            prices={"prompt": 0.0, "completion": 0.0},
        )
        if merged.get("teacher_gguf"):
            defaults["teacher_model"] = Path(str(merged["teacher_gguf"])).stem
    merged = {**defaults, **merged}
    try:
        return Recipe.model_validate(merged)
    except ValidationError as exc:
        raise RecipeError(_describe(exc, "the command line")) from None
