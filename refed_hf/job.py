"""The build job: recipe → seed → synthesis → release on disk. The CLI only parses flags and calls `run`."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa

from refed_hf.builder.decontamination import Decontamination, decontamination
from refed_hf.builder.drops import DropLog, dropped_file
from refed_hf.builder.filters import FilterSettings
from refed_hf.builder.judge import JUDGE, JudgeTally, judge_pass
from refed_hf.builder.local_seed import read_local
from refed_hf.builder.pipeline import Synthesis, synthesize
from refed_hf.builder.plan import RECORDS_PER_REFERENCE
from refed_hf.builder.sample_feedback import SampleTally, sample_feedback_pass
from refed_hf.builder.seed import ColumnChoice, SeedReport, load_seed
from refed_hf.dataset_card import render_card
from refed_hf.dataset_card.render import PLACEHOLDER_REPO

from . import signals
from .diskspace import check_room, disk_errors
from .errors import (
    CacheFileError,
    DiskWriteError,
    NoRecordsError,
    PublishError,
    RecipeError,
    RefedError,
    SeedError,
    TeacherFatalError,
)
from .lock import output_lock
from .output_folder import check_release_folder, clear_leftovers
from .progress import ProgressLine
from .prompt_sets import prompt_set_named
from .published_recipe import RECIPE_FILE, recipe_toml
from .recipe import Recipe, default_of
from .release.ablations import ablation_configs, ablations_part
from .release.examples import examples_of, examples_on_disk
from .release.manifest import (
    Ablations,
    Filters,
    JudgeResults,
    Manifest,
    RefillPart,
    Splits,
    Statistics,
    Subset,
    Timeouts,
    make_manifest,
    read,
)
from .release.provenance import endpoint_description, include_feedback_text, omit_seed_texts
from .release.publish import PublishPlan, publish, tag_of
from .release.report_loader import ReportLoader
from .release.splits import held_out_references, split_by_reference, split_summary
from .release.statistics import record_statistics
from .release.subsets import subset_configs
from .release.training_configs import training_configs
from .release.writer import data_file_patterns, release_dir, write_release
from .settings import default_base_url
from .teacher import ClientFactory, Teacher
from .teacher.endpoints import client_factory, endpoint_name, preflight
from .teacher.local_teacher import LocalServer, bundled_model, cap_schema, check_gguf, check_runtime, local_teacher
from .teacher_setup import RecipeTeacher, check_cost_options, make_teacher, open_cache, recipe_pricing


@dataclass
class JobResult:
    path: Path
    manifest: Manifest
    built: bool = True  # False when an existing release was reused


def existing_release(recipe: Recipe) -> JobResult | None:
    """The release this recipe already built, if its content fields match (to publish it as it is)."""
    path = release_dir(Path(recipe.output).expanduser(), recipe.version)
    manifest_file = path / "manifest.json"
    if not manifest_file.is_file():
        return None
    manifest = read(manifest_file)
    if not manifest.recipe.matches(recipe.content_fields()):
        return None
    if manifest.seed.kind == "local":
        # The recipe names a local seed by its file name only: its content decides whether it is the same.
        try:
            _, facts = read_local(recipe.seed, recipe.seed_split)
        except SeedError:
            return None
        if facts.get("sha256") != manifest.seed.sha256:
            return None
    return JobResult(path, manifest, built=False)


def require_repo_id(recipe: Recipe) -> str:
    if not recipe.repo_id:
        raise RecipeError("--push and --dry-run need --repo-id ORG/NAME (or repo_id in the recipe)")
    return recipe.repo_id


def publish_release(result: JobResult, recipe: Recipe, dry_run: bool, say: Any = print) -> PublishPlan:
    """Publish a built release to `recipe.repo_id`, with its card rendered for the Hub."""
    repo_id = require_repo_id(recipe)
    if result.manifest.records == 0:
        raise PublishError(f"{result.path} holds no record: a release with 0 records is never published")
    return publish(
        result.path,
        recipe.version,
        repo_id,
        recipe.private,
        dry_run,
        lambda history: hub_card(result.path, result.manifest, repo_id, history),
        say,
    )


def hub_card(release: Path, manifest: Manifest, repo_id: str, history: list[dict[str, Any]] | None = None) -> str:
    """The card of a built release as published to `repo_id`: load lines pinned to its tag."""
    example, feedback_example = examples_on_disk(release)
    return render_card(
        manifest,
        example,
        _patterns(manifest),
        load_path=repo_id,
        revision=tag_of(manifest.version),
        history=history,
        feedback_example=feedback_example,
    )


def _patterns(manifest: Manifest) -> dict[str, dict[str, str]]:
    """The card's data files: every config has the splits the release was written with."""
    return data_file_patterns(manifest.split_names(), [subset.config for subset in manifest.subsets or []])


def output_dir(recipe: Recipe) -> Path:
    """The recipe's output directory, made if missing."""
    output = Path(recipe.output).expanduser()
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RecipeError(
            f"cannot create the output directory {output}: {exc.strerror} (pass another --output)"
        ) from None
    return output


def recipe_seed(recipe: Recipe) -> tuple[datasets.Dataset, SeedReport]:
    """The recipe's seed, loaded and checked, with what was read and dropped."""
    return load_seed(
        recipe.seed,
        recipe.seed_split,
        revision=recipe.seed_revision,
        config=recipe.seed_config,
        columns=ColumnChoice(recipe.instruction_column, recipe.response_column, recipe.context_column),
        max_reference_tokens=recipe.max_reference_tokens,
    )


def run(recipe: Recipe) -> JobResult:
    """Build the release the recipe describes; every check that can fail does so before a paid call."""
    started = time.monotonic()
    check_cost_options(recipe)
    if recipe.local:
        model = check_gguf(recipe.teacher_gguf) if recipe.teacher_gguf else bundled_model()
        check_runtime()
        seed, seed_report = recipe_seed(recipe)
        screens = recipe_decontamination(recipe)
        output = output_dir(recipe)
        with output_lock(output):
            _prepare(recipe, output, seed)
            with local_teacher(LocalServer(model, recipe.local_context, recipe.local_parallel)) as base_url:
                factory = client_factory(False, base_url, recipe.request_timeout, api_key="local")
                preflight(factory, base_url)
                return _build(recipe, factory, seed, seed_report, output, started, screens, schema_transform=cap_schema)
    factory = client_factory(recipe.azure, recipe.base_url, recipe.request_timeout)
    seed, seed_report = recipe_seed(recipe)
    screens = recipe_decontamination(recipe)
    output = output_dir(recipe)
    with output_lock(output):
        _prepare(recipe, output, seed)
        preflight(factory, endpoint_name(recipe.azure, recipe.base_url))
        return _build(recipe, factory, seed, seed_report, output, started, screens)


def recipe_decontamination(recipe: Recipe) -> Decontamination | None:
    """The recipe's evaluation sets, read (and refused when unreadable) before any paid call."""
    return decontamination(recipe.decontaminate, recipe.decontaminate_column, recipe.decontaminate_ngram)


def judge_results(model: str, judged: datasets.Dataset, tally: JudgeTally) -> JudgeResults:
    """The judge's part of the manifest, counted from the column it wrote."""
    records = len(judged)
    improved = tally.verdicts["improved"]

    def share(n: int) -> float | None:
        return round(n / records, 4) if records else None

    return JudgeResults(
        model=model,
        records=records,
        judged=tally.items_out,
        improved=improved,
        original=tally.verdicts["original"],
        tie=tally.verdicts["tie"],
        disagreements=tally.disagreements,
        win_rate=share(improved),
        tie_share=share(tally.verdicts["tie"]),
        disagreement_share=share(tally.disagreements),
    )


def _prepare(recipe: Recipe, output: Path, seed: datasets.Dataset) -> None:
    """Under the output's lock, before any call: clear what a killed build left, check that the release
    folder is this tool's to replace, check the disk's room."""
    clear_leftovers(output)
    check_release_folder(release_dir(output, recipe.version))
    check_room(output, min(recipe.size, RECORDS_PER_REFERENCE * len(seed)), recipe.max_tokens)


def filter_counts(synthesis: Synthesis, screens: Decontamination | None = None) -> dict[str, Any]:
    """Drops per filter and per stage, and the answers the API itself marked as refusals (those items
    failed before screening and were replaced like any failed item)."""
    counts = synthesis.counts.counts()
    failed = synthesis.stage_failures()
    counts["api_refusals"] = sum(failed[stage].get("refusal", 0) for stage in ("responses", "improvements"))
    if screens is not None:
        counts["contamination"] = screens.report(synthesis.counts.reasons.get(screens.name, {}))
    return counts


def filter_settings(recipe: Recipe) -> FilterSettings:
    threshold = None if recipe.dedup_threshold == "off" else float(recipe.dedup_threshold)
    return FilterSettings(
        dedup_threshold=threshold,
        seed_leakage=recipe.seed_leakage_filter,
        refusal=recipe.refusal_filter,
        length=recipe.length_filter,
        min_length_ratio=recipe.min_length_ratio,
        # With the near-duplicate filter off, seed leakage is still judged at the default threshold.
        seed_leakage_threshold=threshold if threshold is not None else float(default_of("dedup_threshold")),
    )


@dataclass
class _Made:
    """What the teacher made for a release: the records (judged, with --judge), the synthesis they came
    from, the sample-level baseline (with --ablations) and the items into and out of each stage."""

    synthesis: Synthesis
    records: datasets.Dataset
    sample: tuple[datasets.Dataset, SampleTally] | None
    judged: JudgeResults | None
    stage_items: dict[str, tuple[int, int]]


@dataclass
class _Tables:
    """Every config of the release, split; what the manifest says of the splits, subsets and ablations."""

    splits: dict[str, dict[str, datasets.Dataset]]
    summary: dict[str, Any]
    subsets: list[Subset]
    ablations: dict[str, datasets.Dataset] | None
    seed_rows: datasets.Dataset | None


def _build(
    recipe: Recipe,
    factory: ClientFactory,
    seed: datasets.Dataset,
    seed_report: SeedReport,
    output: Path,
    started: float,
    screens: Decontamination | None = None,
    schema_transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> JobResult:
    # pyarrow's default pool (mimalloc) keeps the pages of the many small record batches written
    # during a build resident; the system allocator gives them back (measured: 462 -> 408 MiB peak
    # at 100k records, benchmarks/throughput.py --preset memory-100k).
    pa.set_memory_pool(pa.system_memory_pool())
    cache = open_cache(output)
    workdir = output / f".work-v{recipe.version}"
    drops = DropLog(dropped_file(output, recipe.version))

    def remove_workdir() -> None:
        shutil.rmtree(workdir, ignore_errors=True)
        drops.discard()  # a no-op once the list is finished

    with signals.cleanup_on_abort(remove_workdir):
        try:
            with disk_errors(output):
                built = make_teacher(
                    recipe,
                    cache,
                    factory,
                    quiet=not datasets.is_progress_bar_enabled(),
                    schema_transform=schema_transform,
                )
                report = ReportLoader().start()  # while the build waits on its teacher
                made = _make(seed, recipe, built, workdir, drops, screens)
                seed_facts = seed_report.as_dict()
                seed_facts["feedback_text"] = include_feedback_text(recipe.feedback_text, seed_facts)
                tables = _tables(made, seed, seed_facts, recipe, workdir)
                manifest = _manifest(made, tables, recipe, seed_facts, built, started, screens)
                path = _write(output, recipe, tables.splits, manifest, seed_facts, report)
                drops.finish()
        finally:
            cache.close()
            remove_workdir()  # also after a failure or Ctrl-C: its files are never reused
    # The manifest as written, with the files it describes.
    return JobResult(path, read(path))


def _make(
    seed: datasets.Dataset,
    recipe: Recipe,
    built: RecipeTeacher,
    workdir: Path,
    drops: DropLog,
    screens: Decontamination | None,
) -> _Made:
    """The records, then what is asked of the teacher about them (the sample-level baseline, the judge)."""
    teacher = built.teacher
    synthesis = _synthesize_or_stop(seed, teacher, recipe, workdir, drops, screens)
    if len(synthesis.records) == 0:
        built.check_budget()  # a budget that stopped every call says so, not "no record"
        raise _no_records(teacher)
    sample = _sample_feedback(synthesis, teacher, recipe, workdir) if recipe.ablations else None
    records, judged = synthesis.records, None
    stage_items = synthesis.stage_items()
    if sample is not None:
        stage_items.update(sample[1].stage_items())
    if recipe.judge:
        judge_model = recipe.judge_model or recipe.teacher_model
        records, tally = judge_pass(records, teacher.for_model(judge_model), workdir)
        judged = judge_results(judge_model, records, tally)
        stage_items[JUDGE] = (tally.items_in, tally.items_out)
    built.check_budget()
    return _Made(synthesis, records, sample, judged, stage_items)


def _tables(made: _Made, seed: datasets.Dataset, seed_facts: dict[str, Any], recipe: Recipe, workdir: Path) -> _Tables:
    """Every config: the records, the feedback, the same records in TRL's shapes, the ablations; then
    every config split alike, and the subset configs drawn from the train split."""
    synthesis, records = made.synthesis, made.records
    feedback = synthesis.feedback if seed_facts["feedback_text"] else omit_seed_texts(synthesis.feedback)
    tables = {
        "default": records,
        "feedback": feedback,
        **training_configs(records, feedback, workdir),
    }
    ablations, seed_rows = None, None
    if made.sample is not None:
        # The seed's own texts go in `sft-seed` only where `feedback` may republish them.
        seed_rows = seed if seed_facts["feedback_text"] else None
        ablations = ablation_configs(seed_rows, synthesis.records, made.sample[0], feedback, workdir)
        tables.update(ablations)
    held_out = held_out_references(records["reference_id"], recipe.test_size, recipe.random_seed)
    splits = split_by_reference(tables, held_out, workdir)
    summary = split_summary(splits, held_out, recipe.test_size)
    subset_tables, subsets = subset_configs(
        recipe.subset_specs(),
        splits["default"]["train"],
        splits["sft"]["train"],
        recipe.random_seed,
        recipe.rouge_l_threshold,
        recipe.language,
        workdir,
    )
    splits.update({config: {"train": table} for config, table in subset_tables.items()})
    return _Tables(splits, summary, subsets, ablations, seed_rows)


def _manifest(
    made: _Made,
    tables: _Tables,
    recipe: Recipe,
    seed_facts: dict[str, Any],
    built: RecipeTeacher,
    started: float,
    screens: Decontamination | None,
) -> Manifest:
    """The manifest before the writer adds its files and the quality report."""
    synthesis = made.synthesis
    endpoint = endpoint_description(
        recipe.azure,
        None if recipe.azure or recipe.local else recipe.base_url or default_base_url(),
        recipe.teacher_model,
        recipe.local,
    )
    manifest = make_manifest(
        recipe,
        seed_facts,
        synthesis.outcome(),
        made.stage_items,
        built.teacher.ledger,
        record_statistics(made.records),
        started,
        offline_demo=recipe.offline and not recipe.teacher_gguf,
        endpoint=endpoint,
        batch=built.batch_stats(),
        stage_failed=synthesis.stage_failures(),
    )
    summary = tables.summary
    later: dict[str, Any] = {
        "shortfall_reason": synthesis.shortfall_reason,
        "timeouts": Timeouts.model_validate(built.timeouts.report()),
        "splits": Splits.model_validate(summary["splits"]),
        "filters": Filters.model_validate(filter_counts(synthesis, screens)),
        "refill": RefillPart.model_validate(synthesis.refill_part()),
    }
    if made.judged is not None:
        later["judge"] = made.judged
    if tables.subsets:
        later["subsets"] = tables.subsets
    if "split_statistics" in summary:
        later["split_statistics"] = {
            split: Statistics.model_validate(stats) for split, stats in summary["split_statistics"].items()
        }
    if tables.ablations is not None:
        later["ablations"] = Ablations.model_validate(
            ablations_part(tables.ablations, len(synthesis.records), tables.seed_rows is not None)
        )
    return manifest.model_copy(update=later)


def _write(
    output: Path,
    recipe: Recipe,
    splits: dict[str, dict[str, datasets.Dataset]],
    manifest: Manifest,
    seed_facts: dict[str, Any],
    report: ReportLoader,
) -> Path:
    """The release on disk: data, card, manifest, published recipe and quality report."""
    example, feedback_example = examples_of(splits)
    return write_release(
        output,
        recipe.version,
        splits,
        manifest,
        lambda final: render_card(
            final,
            example,
            _patterns(final),
            # Never the local folder: the folder is safe to upload as it is, by any tool.
            load_path=recipe.repo_id or PLACEHOLDER_REPO,
            revision=tag_of(recipe.version),
            feedback_example=feedback_example,
        ),
        extra_files={RECIPE_FILE: recipe_toml(recipe, seed_facts.get("sha"))},
        add_assets=report.add_to_release,
    )


def _stopped(exc: RefedError, teacher: Teacher) -> RefedError:
    """The error that stopped the build, with what it kept: the answers this run committed to the cache
    (an answer received but not stored, when the cache refused it, is not counted)."""
    return type(exc)(
        f"the build stopped: {exc} (no release was written; the {teacher.cache.stored} answers stored this "
        "run are in the cache)"
    )


def _no_records(teacher: Teacher) -> NoRecordsError:
    failures = teacher.ledger.total().failures
    why = ", ".join(f"{reason} {n}" for reason, n in sorted(failures.items())) or "every item was filtered out"
    return NoRecordsError(
        f"no record was made ({why}): no release was written and any earlier release of this version is kept; "
        "the answers paid for are cached, so fix the cause and rerun the same command"
    )


def _sample_feedback(
    synthesis: Synthesis, teacher: Teacher, recipe: Recipe, workdir: Path
) -> tuple[datasets.Dataset, SampleTally]:
    """The sample-level baseline over the kept records: after synthesis, so it sees exactly `sft`'s records."""
    try:
        return sample_feedback_pass(synthesis.records, teacher, prompt_set_named(recipe.prompt_set), workdir)
    except (TeacherFatalError, DiskWriteError, CacheFileError) as exc:
        raise _stopped(exc, teacher) from None


def _synthesize_or_stop(
    seed: datasets.Dataset,
    teacher: Teacher,
    recipe: Recipe,
    workdir: Path,
    drops: DropLog,
    screens: Decontamination | None = None,
) -> Any:
    # --quiet turns datasets' bars off before the build starts; ours follows that choice, and theirs
    # are silenced during the build either way (they show the library's internals, not the build).
    progress = (
        ProgressLine(teacher, recipe_pricing(recipe), recipe.size) if datasets.is_progress_bar_enabled() else None
    )
    datasets.disable_progress_bars()
    try:
        return synthesize(
            seed,
            teacher,
            recipe.size,
            recipe.random_seed,
            workdir,
            filter_settings(recipe),
            drops,
            instruction_filters=[screens] if screens is not None else [],
            feedback_scope=recipe.feedback_scope,
            on_progress=progress,
            prompt_set=prompt_set_named(recipe.prompt_set),
        )
    except (TeacherFatalError, DiskWriteError, CacheFileError) as exc:
        raise _stopped(exc, teacher) from None
    finally:
        if progress is not None:
            progress.close()
