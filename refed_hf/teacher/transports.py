"""Choosing how teacher calls are sent for a recipe: directly or through the Batch API, under
`--max-budget` or not. The job makes one call here; the teacher client knows neither option."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from ..errors import RecipeError
from ..recipe import Recipe
from .batch import BatchTransport
from .budget import BudgetGuard
from .cache import ResponseCache
from .client import Teacher
from .prices import prices_for


def check_cost_options(recipe: Recipe) -> None:
    """Refuse, before any paid call, options that cannot work together."""
    if recipe.batch and recipe.local:
        raise RecipeError(
            "--batch needs a provider with the Batch API (OpenAI or Azure OpenAI), not a local teacher: drop --batch"
        )
    if recipe.max_budget is not None and prices_for(recipe.teacher_model, recipe.prices) is None:
        raise RecipeError(
            f"--max-budget needs the price of '{recipe.teacher_model}', which the price table lacks: give "
            f"[prices] prompt and completion (dollars per million tokens) in the recipe"
        )


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass
class Transports:
    batch: BatchTransport | None = None
    budget: BudgetGuard | None = None

    def check_budget(self) -> None:
        """Raise `BudgetExceeded` when the budget stopped calls: no release is written then."""
        if self.budget is not None and self.budget.tripped:
            raise self.budget.stop()

    def batch_stats(self) -> dict[str, Any] | None:
        return self.batch.stats.as_dict() if self.batch is not None else None


def use_transports(recipe: Recipe, teacher: Teacher, cache: ResponseCache, quiet: bool = False) -> Transports:
    """Put the Batch API and the budget guard behind `teacher` as the recipe asks."""
    chosen = Transports()
    if recipe.batch:
        chosen.batch = BatchTransport(
            teacher,
            cache,
            azure=recipe.azure,
            poll_max=recipe.batch_poll_max,
            token_limit=recipe.batch_token_limit,
            say=None if quiet else _progress,
        )
        teacher.transport = chosen.batch
    prices = prices_for(recipe.teacher_model, recipe.prices)
    if recipe.max_budget is not None and prices is not None:
        chosen.budget = BudgetGuard(
            teacher.transport, prices, recipe.max_budget, recipe.batch, teacher.completion_estimates
        )
        teacher.transport = chosen.budget
    return chosen
