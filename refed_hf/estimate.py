"""`--estimate [N]`: build the first N references for real and project the whole build from them.

The sample is the first N references in the build's own drawn order, each with its full quota of
records, built through the same teacher, cache and transport as the build (so it is paid for once:
the full build finds every answer in the cache). From it the projection takes, per stage, the
answers used per unit of work (per reference for feedback and instructions, per record for
responses and improvements: re-asks included) and the tokens per answer, and scales them to the
whole `--size`. Feedback is asked for the references the build draws (every reference of the seed
with `--feedback-scope all`), so its prompt tokens are scaled by the length of those references'
feedback prompts, which are known without a call. With `--ablations` the sample-level baseline runs
over the sample's records too, and is scaled per record.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass

from refed_hf.builder.judge import JUDGE, judge_pass
from refed_hf.builder.pipeline import synthesize
from refed_hf.builder.plan import RECORDS_PER_REFERENCE, reference_order
from refed_hf.builder.sample_feedback import SAMPLE_STAGES, sample_feedback_pass
from refed_hf.builder.stages import FEEDBACK, INSTRUCTIONS, STAGES

from .errors import RecipeError
from .job import filter_settings, output_dir, recipe_seed
from .prompt_sets import PromptSet, prompt_set_named
from .recipe import Recipe
from .teacher.accounting import Ledger
from .teacher.endpoints import client_factory, endpoint_name, preflight
from .teacher.prices import Pricing, Usage
from .teacher_setup import check_cost_options, make_teacher, open_cache, recipe_prices, recipe_pricing


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def _duration(seconds: float) -> str:
    return (
        f"{seconds:.0f} s"
        if seconds < 120
        else f"{seconds / 60:.0f} min"
        if seconds < 7200
        else f"{seconds / 3600:.1f} h"
    )


@dataclass
class Projection:
    """The projected figures of a whole build, and the sample they come from."""

    sample_references: int
    sample_records: int
    seed_references: int
    size: int
    calls: dict[str, int]
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    direct_usd: float | None
    batch_usd: float | None
    direct_seconds: float
    waves: int

    def report(
        self, model: str, concurrency: int, fix: str = "give [prices] prompt and completion in the recipe"
    ) -> str:
        """`model` is the one whose price is missing when the cost is unknown, `fix` what to do about it."""
        calls = sum(self.calls.values())
        by_stage = ", ".join(f"{stage} {n}" for stage, n in self.calls.items())
        if self.direct_usd is None or self.batch_usd is None:
            cost = f"unknown: no price for '{model}' in the price table ({fix})"
        else:
            cost = f"{_usd(self.direct_usd)} direct, {_usd(self.batch_usd)} with --batch"
        return "\n".join(
            [
                f"estimate:     from the first {self.sample_references} references ({self.sample_records} records), "
                f"built for real and cached: the full build reuses them",
                f"projected for --size {self.size} ({self.seed_references} references get feedback):",
                f"calls:        {calls} ({by_stage})",
                f"tokens:       {self.prompt_tokens} prompt ({self.cached_tokens} cached) + {self.completion_tokens} completion",
                f"cost:         {cost}",
                f"time:         about {_duration(self.direct_seconds)} direct at --concurrency {concurrency}; "
                f"with --batch {self.waves} waves, each up to 24 h at the provider",
            ]
        )


def project(
    ledger: Ledger,
    sample_references: int,
    sample_records: int,
    sample_feedback_chars: int,
    all_feedback_chars: int,
    seed_references: int,
    size: int,
    sample_seconds: float,
    concurrency: int,
    waves: int,
    pricing: Pricing,
    stages: tuple[str, ...] = STAGES,
) -> Projection:
    """Scale the sample's answers and tokens per stage to the whole build (see the module doc)."""
    used_references = math.ceil(size / RECORDS_PER_REFERENCE)
    calls: dict[str, int] = {}
    usages: dict[str, Usage] = {}
    # The judge and the sample-level baseline (--ablations), when asked for, are per-record stages too.
    for stage in stages:
        counts = ledger.stage(stage)
        if stage == FEEDBACK:
            scale = seed_references / sample_references
        elif stage == INSTRUCTIONS:
            scale = used_references / sample_references
        else:
            scale = size / sample_records
        calls[stage] = round(counts.used_answers * scale)
        # Feedback prompts are known for every reference: scale by their length, not their number.
        prompt_scale = all_feedback_chars / sample_feedback_chars if stage == FEEDBACK else scale
        usages[stage] = Usage(
            round(counts.used_prompt_tokens * prompt_scale),
            round(counts.used_cached_tokens * scale),
            round(counts.used_completion_tokens * scale),
        )
    usage = Usage(*(sum(getattr(u, name) for u in usages.values()) for name in Usage.__dataclass_fields__))
    total_calls = sum(calls.values())
    sample_calls = max(1, ledger.total().used_answers)
    # The sample is latency-bound (four chained stages); the build is bound by --concurrency calls
    # of about that latency each in flight.
    latency = sample_seconds / 4
    seconds = max(sample_seconds, total_calls * latency / concurrency) if sample_calls else sample_seconds
    return Projection(
        sample_references,
        sample_records,
        seed_references,
        size,
        calls,
        usage.prompt_tokens,
        usage.cached_tokens,
        usage.completion_tokens,
        pricing.cost(usages),
        pricing.cost(usages, batch=True),
        seconds,
        waves,
    )


def _feedback_chars(prompt_set: PromptSet, instruction: str, response: str) -> int:
    return len(json.dumps(prompt_set.features_messages(instruction, response))) + len(
        json.dumps(prompt_set.feedback_messages(instruction, response))
    )


def estimate(recipe: Recipe, references: int) -> str:
    """Build the first `references` references for real and report the projection for `recipe`."""
    if references < 1:
        raise RecipeError("--estimate takes a number of references of at least 1, e.g. --estimate 3")
    if recipe.local:
        raise RecipeError(
            "--estimate projects the cost of a paid teacher; a local teacher costs nothing: drop --estimate"
        )
    check_cost_options(recipe)
    factory = client_factory(recipe.azure, recipe.base_url, recipe.request_timeout)
    seed, _ = recipe_seed(recipe)
    output = output_dir(recipe)
    preflight(factory, endpoint_name(recipe.azure, recipe.base_url))
    order = reference_order(list(seed["reference_id"]), recipe.random_seed)
    picked = order[: min(references, len(order))]
    sample = seed.select(picked)
    sample_size = min(recipe.size, RECORDS_PER_REFERENCE * len(picked))
    cache = open_cache(output)
    workdir = output / f".work-estimate-v{recipe.version}"
    try:
        built = make_teacher(recipe, cache, factory, quiet=True)
        teacher = built.teacher
        started = time.monotonic()
        ps = prompt_set_named(recipe.prompt_set)
        synthesis = synthesize(
            sample, teacher, sample_size, recipe.random_seed, workdir, filter_settings(recipe), prompt_set=ps
        )
        if recipe.judge:
            judge_pass(synthesis.records, teacher.for_model(recipe.judge_model or recipe.teacher_model), workdir)
        if recipe.ablations:
            sample_feedback_pass(synthesis.records, teacher, ps, workdir)
        seconds = time.monotonic() - started
        built.check_budget()
        records = len(synthesis.records)
    finally:
        cache.close()
        shutil.rmtree(workdir, ignore_errors=True)
    if records == 0:
        raise RecipeError(
            "--estimate: every item of the sample failed, so nothing can be projected (see the teacher's errors)"
        )
    # Feedback is written for the references the build will draw (as many as the sample's records per
    # reference imply), or for every reference of the seed with --feedback-scope all.
    drawn = (
        len(seed)
        if recipe.feedback_scope == "all"
        else min(len(seed), max(len(picked), math.ceil(recipe.size * len(picked) / records)))
    )
    covered = seed.select(order[:drawn])
    all_chars = sum(_feedback_chars(ps, i, r) for i, r in zip(covered["instruction"], covered["response"]))
    sample_chars = sum(_feedback_chars(ps, i, r) for i, r in zip(sample["instruction"], sample["response"]))
    stages = (*STAGES, *((JUDGE,) if recipe.judge else ()), *(SAMPLE_STAGES if recipe.ablations else ()))
    waves = built.batch.stats.waves if built.batch else len(STAGES)
    projection = project(
        teacher.ledger,
        len(picked),
        records,
        sample_chars,
        all_chars,
        drawn,
        recipe.size,
        seconds,
        recipe.concurrency,
        max(waves, len(STAGES) + (len(SAMPLE_STAGES) if recipe.ablations else 0)),
        recipe_pricing(recipe),
        stages,
    )
    if recipe_prices(recipe) is None or recipe.judge_model is None:
        return projection.report(recipe.teacher_model, recipe.concurrency)
    return projection.report(recipe.judge_model, recipe.concurrency, "pick a judge model the price table lists")
