"""What teacher tokens cost: a list-price table for the models users pick, overridable by the recipe.

Prices are US dollars per million tokens. Prompt tokens the provider served from its prefix cache
(`usage.prompt_tokens_details.cached_tokens`) are billed at the cached rate, and the Batch API bills
everything at its own (half) rates. A model the table does not know has no price: costs are then
reported as unknown rather than guessed from another model's rates, unless the recipe's `[prices]`
gives them.

Checked 2026-11-27. OpenAI's pricing page (https://developers.openai.com/api/docs/pricing) could not
be read from the build machine; the figures are those quoted from it by public price tables (see
the README's "Cost" section). Verify them before budgeting and override in `[prices]` when they move.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace

PRICES_CHECKED = "2026-11-27"


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    cached_tokens: int = 0  # of the prompt tokens, those served from the provider's prefix cache
    completion_tokens: int = 0


@dataclass(frozen=True)
class ModelPrices:
    """Dollars per million tokens, direct and through the Batch API."""

    prompt: float
    cached_prompt: float
    completion: float
    batch_prompt: float
    batch_cached_prompt: float
    batch_completion: float

    def cost(self, usage: Usage, batch: bool = False) -> float:
        """US dollars for `usage`; cached prompt tokens at the cached rate."""
        prompt, cached, completion = (
            (self.batch_prompt, self.batch_cached_prompt, self.batch_completion)
            if batch
            else (self.prompt, self.cached_prompt, self.completion)
        )
        fresh = max(0, usage.prompt_tokens - usage.cached_tokens)
        return (fresh * prompt + usage.cached_tokens * cached + usage.completion_tokens * completion) / 1_000_000

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Pricing:
    """The prices of a build's calls by stage: the teacher's, and another model's for the stages it
    answers (the judge with `--judge-model`), so each call is charged at its own model's rates."""

    default: ModelPrices | None
    by_stage: Mapping[str, ModelPrices | None] = field(default_factory=dict)

    def of(self, stage: str) -> ModelPrices | None:
        return self.by_stage.get(stage, self.default)

    @property
    def known(self) -> bool:
        return self.default is not None and all(prices is not None for prices in self.by_stage.values())

    def cost(self, usages: Mapping[str, Usage], batch: bool = False) -> float | None:
        """US dollars for each stage's usage at its model's rates; None when a stage's model has no price."""
        if self.default is None:
            return None
        total = 0.0
        for stage, usage in usages.items():
            prices = self.of(stage)
            if prices is None:
                return None
            total += prices.cost(usage, batch)
        return total


def _list_price(prompt: float, cached: float, completion: float) -> ModelPrices:
    # The Batch API halves every rate, cached input included.
    return ModelPrices(prompt, cached, completion, prompt / 2, cached / 2, completion / 2)


TABLE: dict[str, ModelPrices] = {
    "gpt-4o-mini": _list_price(0.15, 0.075, 0.60),
    "gpt-4o": _list_price(2.50, 1.25, 10.00),
    "gpt-4.1": _list_price(2.00, 0.50, 8.00),
    "gpt-4.1-mini": _list_price(0.40, 0.10, 1.60),
    "gpt-4.1-nano": _list_price(0.10, 0.025, 0.40),
    "gpt-5": _list_price(1.25, 0.125, 10.00),
    "gpt-5-mini": _list_price(0.25, 0.025, 2.00),
    "gpt-5-nano": _list_price(0.05, 0.005, 0.40),
}

_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")  # gpt-4o-mini-2024-07-18 is priced as gpt-4o-mini


def prices_for(model: str, overrides: Mapping[str, float] | None = None) -> ModelPrices | None:
    """The prices of `model`: the table's, with `overrides` (`ModelPrices` field names, the recipe's
    `[prices]`) on top; None if unknown.

    For a model the table lacks, the overrides must give `prompt` and `completion`; the cached rate then
    defaults to the prompt rate (no discount assumed) and each batch rate to half its direct rate.
    """
    given = dict(overrides or {})
    known = TABLE.get(model) or TABLE.get(_SNAPSHOT.sub("", model))
    if known is not None:
        return replace(known, **given)
    if "prompt" not in given or "completion" not in given:
        return None
    prompt, completion = given["prompt"], given["completion"]
    cached = given.get("cached_prompt", prompt)
    return ModelPrices(
        prompt,
        cached,
        completion,
        given.get("batch_prompt", prompt / 2),
        given.get("batch_cached_prompt", cached / 2),
        given.get("batch_completion", completion / 2),
    )
