"""The recipe: every choice that shapes a release, from a TOML file and the command line.

The resolved recipe is written to the release manifest, so it holds no secrets: keys are read from
the environment by `settings`, never stored here.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from .errors import RecipeError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
CONTENT_FIELDS = (
    "seed",
    "seed_split",
    "teacher_model",
    "size",
    "random_seed",
    "version",
    "temperature",
    "top_p",
    "max_tokens",
    "structured_outputs",
    "max_reasks",
    "seed_revision",
    "seed_config",
    "instruction_column",
    "response_column",
    "context_column",
    "max_reference_tokens",
    "license",
    "feedback_text",
    "test_size",
    "language",
    "dedup_threshold",
    "seed_leakage_filter",
    "refusal_filter",
    "length_filter",
    "min_length_ratio",
    "feedback_scope",
)
LOCAL_SEED_SUFFIXES = (".json", ".jsonl", ".parquet", ".csv")
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


class Prices(BaseModel):
    """US dollars per million tokens, overriding the price table (`refed_hf/teacher/prices.py`)
    field by field; a model the table lacks needs at least `prompt` and `completion`."""

    model_config = ConfigDict(extra="forbid")

    prompt: float | None = Field(None, ge=0)
    cached_prompt: float | None = Field(None, ge=0)
    completion: float | None = Field(None, ge=0)
    batch_prompt: float | None = Field(None, ge=0)
    batch_cached_prompt: float | None = Field(None, ge=0)
    batch_completion: float | None = Field(None, ge=0)


class Recipe(BaseModel):
    """What to build; each field is also a flag of `python -m refed_hf.build` (underscores become dashes)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    seed: str = "GAIR/lima"
    seed_split: str = "train"
    teacher_model: str = "gpt-4o-mini"
    base_url: str | None = None
    azure: bool = False
    size: int = Field(10000, ge=1)
    random_seed: int = 0
    test_size: int | float = Field(0, ge=0)
    language: str = "en"
    concurrency: int = Field(64, ge=1, le=4096)
    max_rpm: int | None = Field(None, ge=1)
    max_tpm: int | None = Field(None, ge=1)
    output: str = "./refed-release"
    version: str = "0.1.0"
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(4096, ge=16)
    structured_outputs: bool = True
    max_reasks: int = Field(2, ge=0, le=10)
    max_retries: int = Field(8, ge=0, le=50)
    request_timeout: float = Field(120.0, gt=0)
    max_timeout_retries: int = Field(2, ge=0, le=10)
    prices: Prices = Prices()
    batch: bool = False
    batch_poll_max: float = Field(60.0, gt=0)
    batch_token_limit: int | None = Field(None, ge=1)
    max_budget: float | None = Field(None, gt=0)
    repo_id: str | None = None
    private: bool = False
    offline: bool = False
    teacher_gguf: str | None = None
    local_context: int = Field(16384, ge=1024)
    local_parallel: int = Field(4, ge=1, le=64)
    # The seed (issue 8): where exactly it comes from, how its columns map, what is published of it.
    seed_revision: str = "main"
    seed_config: str | None = None
    instruction_column: str | None = None
    response_column: str | None = None
    context_column: str | None = None
    max_reference_tokens: int = Field(8000, ge=1)
    license: str = "cc-by-nc-4.0"
    feedback_text: Literal["include", "omit", "auto"] = "auto"
    dedup_threshold: float | Literal["off"] = 0.8  # Jaccard of word 2-grams; 1.0 = exact duplicates only
    seed_leakage_filter: bool = True
    refusal_filter: bool = True
    length_filter: bool = True
    min_length_ratio: float = Field(0.5, gt=0, le=1)
    feedback_scope: Literal["used", "all"] = Field(
        "used",
        description="write reference-level feedback for the references records are drawn from (used), "
        "or for every reference of the seed as the paper's collection step did (all)",
    )

    @property
    def local(self) -> bool:
        """The teacher is the embedded llama.cpp server (--offline or --teacher-gguf)."""
        return self.offline or self.teacher_gguf is not None

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not SEMVER.match(value):
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
        if value >= 1 and float(value) != int(value):
            raise ValueError("must be a fraction below 1 (e.g. 0.1) or a whole number of records (e.g. 200)")
        value = int(value) if value >= 1 else value
        size = info.data.get("size")
        if value >= 1 and size is not None and value >= size:
            raise ValueError(f"a count of test records must be below --size ({size}); or give a fraction, e.g. 0.1")
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if not LANGUAGE.match(value):
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

    @field_validator("repo_id")
    @classmethod
    def _repo_id(cls, value: str | None) -> str | None:
        if value is not None and not REPO_ID.match(value):
            raise ValueError("must be ORG/NAME, e.g. my-org/refed")
        return value

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
        return public


def is_local_seed(seed: str) -> bool:
    """A seed given as a path (or the bundled `demo`), not a Hub dataset id."""
    if seed == "demo" or seed.startswith((".", "/", "~")) or seed.endswith(LOCAL_SEED_SUFFIXES):
        return True
    return not REPO_ID.match(seed) or Path(seed).expanduser().exists()


def _describe(error: ValidationError, origin: str) -> str:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "?"
    if first["type"] == "extra_forbidden":
        known = ", ".join(sorted(Recipe.model_fields))
        return f"unknown recipe field '{field}' in {origin}; known fields: {known}"
    flag = "--" + field.split(".")[0].replace("_", "-")
    return f"bad recipe field '{field}' in {origin}: {first['msg']} (fix it there or pass {flag})"


# What --offline changes unless the recipe or a flag says otherwise: the bundled seed, a size that
# builds in minutes on two CPU cores, and a short answer budget for a small model.
OFFLINE_DEFAULTS: dict[str, Any] = {
    "seed": "demo",
    "size": 8,
    "max_tokens": 1536,
    "max_reasks": 2,
    "teacher_model": "SmolLM2-135M-Instruct",
}


def load_recipe(path: str | Path | None, overrides: dict[str, Any]) -> Recipe:
    """The recipe from a TOML file (if any) with `overrides` (the flags that were given) on top."""
    data: dict[str, Any] = {}
    origin = "the command line"
    if path is not None:
        from .published_recipe import fetch_recipe, is_hub_reference  # noqa: PLC0415 - it imports this module

        file = fetch_recipe(str(path)) if is_hub_reference(path) else Path(path)
        if not file.is_file():
            raise RecipeError(f"recipe file not found: {file} (check --recipe)")
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise RecipeError(f"recipe {path} is not valid TOML: {exc}") from None
        data = {key.replace("-", "_"): value for key, value in data.items()}
        origin = str(path)
    try:
        Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(_describe(exc, origin)) from None
    merged = {**data, **overrides}
    defaults: dict[str, Any] = dict(OFFLINE_DEFAULTS) if merged.get("offline") else {}
    if merged.get("offline") or merged.get("teacher_gguf"):
        # A local teacher: as many calls as the server has slots, at no cost per token.
        defaults.update(concurrency=merged.get("local_parallel", 4), prices={"prompt": 0.0, "completion": 0.0})
        if merged.get("teacher_gguf"):
            defaults["teacher_model"] = Path(str(merged["teacher_gguf"])).stem
    merged = {**defaults, **merged}
    try:
        return Recipe.model_validate(merged)
    except ValidationError as exc:
        raise RecipeError(_describe(exc, "the command line")) from None
