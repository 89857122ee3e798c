"""A recipe's teacher: the one place where the recipe's values become the teacher package's objects.

The teacher package takes plain values (a model name, sampling numbers, prices, the schema of each
answer, the re-ask message) and knows no recipe; here they are read from the recipe, the transport
is chosen once (direct or through the Batch API, under `--max-budget` or not), and the options that
cannot work together are refused before any paid call.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .diskspace import cache_write_error
from .errors import RecipeError
from .features import teacher_schema
from .prompts import reask_messages
from .recipe import Recipe
from .teacher import ClientFactory, Sampling, Teacher, Transport
from .teacher.batch import BatchTransport
from .teacher.budget import BudgetGuard
from .teacher.cache import ResponseCache
from .teacher.connection import Connection
from .teacher.direct import DirectTransport
from .teacher.estimates import CompletionEstimates
from .teacher.limiter import CallLimiter
from .teacher.prices import ModelPrices, Pricing, prices_for
from .teacher.shared import Shared
from .teacher.timeouts import TimeoutPolicy

CACHE_FILE = "cache.sqlite"
# With --batch the limiter paces nothing (the Batch API queues the calls); its width only sets how
# many references are in flight, and every reference should be, so that waves are large.
BATCH_CONCURRENCY = 4096


# The stage the judge's calls are counted in (`refed_hf.builder.judge.JUDGE`; named here because the
# release, which prices calls, may not import the pipeline).
JUDGE_STAGE = "judge"


def recipe_prices(recipe: Recipe) -> ModelPrices | None:
    """The teacher model's prices: the table's, with the recipe's `[prices]` on top; None if unknown."""
    return prices_for(recipe.teacher_model, recipe.prices.model_dump(exclude_none=True))


def recipe_pricing(recipe: Recipe) -> Pricing:
    """The prices of every call of the build: the teacher's, and with a `--judge-model` of its own, the
    judge's calls at that model's table prices (the recipe's `[prices]` are the teacher's)."""
    judge_model = recipe.judge_model
    if not recipe.judge or judge_model is None or judge_model == recipe.teacher_model:
        return Pricing(recipe_prices(recipe))
    return Pricing(recipe_prices(recipe), {JUDGE_STAGE: prices_for(judge_model)})


def check_cost_options(recipe: Recipe) -> None:
    """Refuse, before any paid call, options that cannot work together."""
    if recipe.batch and recipe.local:
        raise RecipeError(
            "--batch needs a provider with the Batch API (OpenAI or Azure OpenAI), not a local teacher: drop --batch"
        )
    if recipe.max_budget is not None and recipe_prices(recipe) is None:
        raise RecipeError(
            f"--max-budget needs the price of '{recipe.teacher_model}', which the price table lacks: give "
            f"[prices] prompt and completion (dollars per million tokens) in the recipe"
        )
    if recipe.max_budget is not None and not recipe_pricing(recipe).known:
        raise RecipeError(
            f"--max-budget needs the price of the judge model '{recipe.judge_model}', which the price table "
            "lacks: pick a judge model the table prices, or drop --max-budget"
        )


def open_cache(output: Path) -> ResponseCache:
    """The output's response cache; an answer it cannot store stops the build with the disk's fix."""
    return ResponseCache(output / CACHE_FILE, cache_write_error)


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass
class RecipeTeacher:
    """The teacher of a build, with the parts the job reports on."""

    teacher: Teacher
    timeouts: TimeoutPolicy
    batch: BatchTransport | None = None
    budget: BudgetGuard | None = None

    def check_budget(self) -> None:
        """Raise `BudgetExceeded` when the budget stopped calls: no release is written then."""
        if self.budget is not None and self.budget.tripped:
            raise self.budget.stop()

    def batch_stats(self) -> dict[str, Any] | None:
        return self.batch.stats.as_dict() if self.batch is not None else None


def make_teacher(
    recipe: Recipe,
    cache: ResponseCache,
    factory: ClientFactory,
    quiet: bool = False,
    schema_transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> RecipeTeacher:
    """The teacher the recipe describes, its transport chosen once: direct or Batch API, then the
    budget guard around it when `--max-budget` is given. `schema_transform` reshapes each answer's
    JSON schema (a local teacher bounds its strings and lists)."""
    concurrency = BATCH_CONCURRENCY if recipe.batch else recipe.concurrency
    shared = Shared(
        Connection(factory),
        CallLimiter(concurrency, recipe.max_rpm, recipe.max_tpm),
        CompletionEstimates(recipe.max_tokens),
    )
    timeouts = TimeoutPolicy(recipe.request_timeout, recipe.max_timeout_retries)
    transport: Transport = DirectTransport(shared, timeouts, recipe.max_retries)
    batch = budget = None
    if recipe.batch:
        transport = batch = BatchTransport(
            shared.connection,
            cache,
            model=recipe.teacher_model,
            max_retries=recipe.max_retries,
            azure=recipe.azure,
            poll_max=recipe.batch_poll_max,
            token_limit=recipe.batch_token_limit,
            say=None if quiet else _progress,
        )
    pricing = recipe_pricing(recipe)
    if recipe.max_budget is not None and pricing.known:
        transport = budget = BudgetGuard(transport, pricing, recipe.max_budget, recipe.batch, shared.estimates)
    teacher = Teacher(
        transport,
        shared,
        model=recipe.teacher_model,
        cache=cache,
        sampling=Sampling(recipe.temperature, recipe.top_p, recipe.max_tokens, recipe.random_seed),
        structured_outputs=recipe.structured_outputs,
        max_reasks=recipe.max_reasks,
        schema_of=_schema_of(schema_transform),
        reask=reask_messages,
    )
    return RecipeTeacher(teacher, timeouts, batch, budget)


def _schema_of(
    transform: Callable[[dict[str, Any]], dict[str, Any]] | None,
) -> Callable[[type[BaseModel]], dict[str, Any]]:
    if transform is None:
        return teacher_schema
    return lambda model: transform(teacher_schema(model))
