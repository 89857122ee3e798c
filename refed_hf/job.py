"""The build job: recipe → seed → synthesis → release on disk. The CLI only parses flags and calls `run`."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.pipeline import synthesize
from builder.seed import load_seed
from dataset_card import render_card

from .accounting import Ledger
from .cache import ResponseCache
from .clients import client_factory, endpoint_name, preflight
from .errors import RecipeError
from .limiter import CallLimiter
from .manifest import make_manifest
from .recipe import Recipe
from .release import data_file_patterns, write_release
from .statistics import record_statistics
from .teacher import ClientFactory, Sampling, Teacher

CACHE_FILE = "cache.sqlite"


@dataclass
class JobResult:
    path: Path
    manifest: dict[str, Any]


def _output_dir(recipe: Recipe) -> Path:
    output = Path(recipe.output).expanduser()
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RecipeError(f"cannot create the output directory {output}: {exc.strerror} (pass another --output)") from None
    return output


def make_teacher(recipe: Recipe, cache: ResponseCache, factory: ClientFactory, **options: Any) -> Teacher:
    return Teacher(
        factory,
        model=recipe.teacher_model,
        cache=cache,
        limiter=CallLimiter(recipe.concurrency, recipe.max_rpm, recipe.max_tpm),
        ledger=Ledger(),
        sampling=Sampling(recipe.temperature, recipe.top_p, recipe.max_tokens),
        structured_outputs=recipe.structured_outputs,
        max_reasks=recipe.max_reasks,
        max_retries=recipe.max_retries,
        **options,
    )


def run(recipe: Recipe, factory: ClientFactory | None = None, offline_demo: bool = False, **teacher_options: Any) -> JobResult:
    """Build the release the recipe describes; every check that can fail does so before a paid call."""
    started = time.monotonic()
    if factory is None:
        factory = client_factory(recipe.azure, recipe.base_url, recipe.request_timeout)
        preflight_target = endpoint_name(recipe.azure, recipe.base_url)
    else:
        preflight_target = "(given client)"
    seed, seed_report = load_seed(recipe.seed, recipe.seed_split)
    output = _output_dir(recipe)
    preflight(factory, preflight_target)

    cache = ResponseCache(output / CACHE_FILE)
    workdir = output / f".work-v{recipe.version}"
    try:
        teacher = make_teacher(recipe, cache, factory, **teacher_options)
        synthesis = synthesize(seed, teacher, recipe.size, recipe.random_seed, workdir)
        statistics = record_statistics(synthesis.records)
        manifest = make_manifest(recipe, seed_report, synthesis, teacher.ledger, statistics, started, offline_demo)
        example = synthesis.records[0] if len(synthesis.records) else None
        path = write_release(
            output,
            recipe.version,
            {"default": synthesis.records, "feedback": synthesis.feedback},
            manifest,
            lambda final: render_card(final, example, data_file_patterns(), load_path=str(output / f"v{recipe.version}")),
        )
    finally:
        cache.close()
    shutil.rmtree(workdir, ignore_errors=True)
    return JobResult(path, manifest)
