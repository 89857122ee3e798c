"""The build job: recipe → seed → synthesis → release on disk. The CLI only parses flags and calls `run`."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq

from builder.filters import FilterSettings
from builder.pipeline import Synthesis, synthesize
from builder.seed import SeedReport, load_seed
from dataset_card import render_card

from .errors import RecipeError
from .recipe import Recipe
from .release.manifest import make_manifest
from .release.publish import PublishPlan, publish, tag_of
from .release.report import add_to_release as add_quality_report
from .release.statistics import record_statistics
from .release.writer import CONFIG_DIRS, data_file_patterns, release_dir, write_release
from .teacher import ClientFactory, Sampling, Teacher
from .teacher.accounting import Ledger
from .teacher.cache import ResponseCache
from .teacher.endpoints import client_factory, endpoint_name, preflight
from .teacher.limiter import CallLimiter
from .teacher.local_teacher import LocalServer, bundled_model, cap_schema, check_gguf, check_runtime, local_teacher

CACHE_FILE = "cache.sqlite"


@dataclass
class JobResult:
    path: Path
    manifest: dict[str, Any]
    built: bool = True  # False when an existing release was reused


def existing_release(recipe: Recipe) -> JobResult | None:
    """The release this recipe already built, if its content fields match (to publish it as it is)."""
    path = release_dir(Path(recipe.output).expanduser(), recipe.version)
    manifest_file = path / "manifest.json"
    if not manifest_file.is_file():
        return None
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    built_with = manifest.get("recipe", {})
    if any(built_with.get(name) != value for name, value in recipe.content_fields().items()):
        return None
    return JobResult(path, manifest, built=False)


def _first_record(release: Path) -> dict[str, Any] | None:
    shards = sorted((release / CONFIG_DIRS["default"]).glob("*.parquet"))
    if not shards:
        return None
    first = pq.ParquetFile(shards[0])
    if not first.num_row_groups:
        return None
    table = first.read_row_group(0)
    return table.slice(0, 1).to_pylist()[0] if table.num_rows else None


def require_repo_id(recipe: Recipe) -> str:
    if not recipe.repo_id:
        raise RecipeError("--push and --dry-run need --repo-id ORG/NAME (or repo_id in the recipe)")
    return recipe.repo_id


def publish_release(result: JobResult, recipe: Recipe, dry_run: bool, say: Any = print) -> PublishPlan:
    """Publish a built release to `recipe.repo_id`, with its card rendered for the Hub."""
    repo_id = require_repo_id(recipe)
    example = _first_record(result.path)
    tag = tag_of(recipe.version)
    return publish(
        result.path,
        recipe.version,
        repo_id,
        recipe.private,
        dry_run,
        lambda history: render_card(result.manifest, example, data_file_patterns(), load_path=repo_id,
                                    revision=tag, history=history),
        say,
    )


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
        sampling=Sampling(recipe.temperature, recipe.top_p, recipe.max_tokens, recipe.random_seed),
        structured_outputs=recipe.structured_outputs,
        max_reasks=recipe.max_reasks,
        max_retries=recipe.max_retries,
        **options,
    )


def run(recipe: Recipe) -> JobResult:
    """Build the release the recipe describes; every check that can fail does so before a paid call."""
    started = time.monotonic()
    if recipe.local:
        model = check_gguf(recipe.teacher_gguf) if recipe.teacher_gguf else bundled_model()
        check_runtime()
        seed, seed_report = load_seed(recipe.seed, recipe.seed_split)
        output = _output_dir(recipe)
        with local_teacher(LocalServer(model, recipe.local_context, recipe.local_parallel)) as base_url:
            factory = client_factory(False, base_url, recipe.request_timeout, api_key="local")
            preflight(factory, base_url)
            return _build(recipe, factory, seed, seed_report, output, started, schema_transform=cap_schema)
    factory = client_factory(recipe.azure, recipe.base_url, recipe.request_timeout)
    seed, seed_report = load_seed(recipe.seed, recipe.seed_split)
    output = _output_dir(recipe)
    preflight(factory, endpoint_name(recipe.azure, recipe.base_url))
    return _build(recipe, factory, seed, seed_report, output, started)


def filter_counts(synthesis: Synthesis, teacher: Teacher) -> dict[str, Any]:
    """Drops per filter, and the answers the API itself marked as refusals (those items failed before
    screening and were replaced like any failed item)."""
    counts = synthesis.screen.counts() if synthesis.screen is not None else {}
    counts["api_refusals"] = sum(teacher.ledger.stage(stage).failures.get("refusal", 0)
                                 for stage in ("responses", "improvements"))
    return counts


def filter_settings(recipe: Recipe) -> FilterSettings:
    threshold = recipe.dedup_threshold
    return FilterSettings(None if threshold == "off" else float(threshold), recipe.seed_leakage_filter,
                          recipe.refusal_filter, recipe.length_filter, recipe.min_length_ratio)


def _build(
    recipe: Recipe,
    factory: ClientFactory,
    seed: datasets.Dataset,
    seed_report: SeedReport,
    output: Path,
    started: float,
    **teacher_options: Any,
) -> JobResult:
    # pyarrow's default pool (mimalloc) keeps the pages of the many small record batches written
    # during a build resident; the system allocator gives them back (measured: 462 -> 408 MiB peak
    # at 100k records, benchmarks/throughput.py --preset memory-100k).
    pa.set_memory_pool(pa.system_memory_pool())
    cache = ResponseCache(output / CACHE_FILE)
    workdir = output / f".work-v{recipe.version}"
    try:
        teacher = make_teacher(recipe, cache, factory, **teacher_options)
        synthesis = synthesize(seed, teacher, recipe.size, recipe.random_seed, workdir, filter_settings(recipe))
        statistics = record_statistics(synthesis.records)
        manifest = make_manifest(recipe, seed_report.as_dict(), synthesis.outcome(), synthesis.stage_items(),
                                 teacher.ledger, statistics, started,
                                 offline_demo=recipe.offline and not recipe.teacher_gguf)
        manifest["filters"] = filter_counts(synthesis, teacher)
        example = synthesis.records[0] if len(synthesis.records) else None
        path = write_release(
            output,
            recipe.version,
            {"default": synthesis.records, "feedback": synthesis.feedback},
            manifest,
            lambda final: render_card(final, example, data_file_patterns(), load_path=str(output / f"v{recipe.version}")),
            add_assets=add_quality_report,
        )
    finally:
        cache.close()
    shutil.rmtree(workdir, ignore_errors=True)
    # The manifest as written, with the files it describes.
    return JobResult(path, json.loads((path / "manifest.json").read_text(encoding="utf-8")))
