"""`--max-budget USD`: stop starting teacher calls once this run's estimated spend would pass it.

The guard wraps the transport (direct or batch). Before a call goes out it adds the call's estimated
cost (prompt tokens estimated from its characters, completion at the running mean of that kind of answer)
to what this run has already spent and what calls in flight may cost; past the budget the call is
refused, and every later one too. Calls already sent finish and are stored, so nothing paid for is
lost; the job then stops without writing a release (`BudgetExceeded`), and a rerun with a higher
budget continues from the cache.
"""

from __future__ import annotations

import asyncio

from ..errors import RefedError
from .cache import CachedAnswer
from .estimates import CompletionEstimates, answer_kind, prompt_tokens
from .prices import ModelPrices, Pricing, Usage
from .transport import BAD_USAGE, Call, Transport


class OverBudget(Exception):
    """A call refused by the budget; its item fails with the reason `OverBudget`."""


class BudgetExceeded(RefedError):
    """The build stopped at --max-budget; a rerun with a higher budget continues from the cache."""

    exit_code = 3


class BudgetGuard:
    """A `Transport` that passes calls to `inner` while the budget allows."""

    def __init__(
        self, inner: Transport, pricing: Pricing, budget: float, batch: bool, completions: CompletionEstimates
    ) -> None:
        self.inner = inner
        self.pricing = pricing  # each call at its stage's model's rates (the judge's may differ)
        self.budget = budget
        self.batch = batch
        self.spent = 0.0  # what the answers received in this run cost
        self.reserved = 0.0  # what the calls in flight may cost
        self.refused = 0
        self._completions = completions  # the run's, which the teacher teaches with every answer
        self._finished: list[asyncio.Future[None]] = []  # calls waiting for one in flight to finish

    @property
    def tripped(self) -> bool:
        return self.refused > 0

    def _prices(self, stage: str) -> ModelPrices:
        prices = self.pricing.of(stage) or self.pricing.default
        assert prices is not None  # the job refuses --max-budget without known prices
        return prices

    def _estimate(self, call: Call) -> float:
        usage = Usage(prompt_tokens(call.body), 0, self._completions.expected(answer_kind(call.body)))
        return self._prices(call.stage).cost(usage, self.batch)

    async def send(self, call: Call) -> CachedAnswer:
        estimate = self._estimate(call)
        while True:
            if self.tripped or self.spent + estimate > self.budget:
                self.refused += 1
                raise OverBudget(f"over --max-budget ${self.budget}")
            if self.spent + self.reserved + estimate <= self.budget:
                break
            # Calls in flight may cost less than reserved for them: wait for one to finish.
            waiter = asyncio.get_running_loop().create_future()
            self._finished.append(waiter)
            await waiter
        self.reserved += estimate
        try:
            answer = await self.inner.send(call)
        finally:
            self.reserved -= estimate
            waiting, self._finished = self._finished, []
            for waiter in waiting:
                if not waiter.done():
                    waiter.set_result(None)
        # An answer whose usage could not be true reports none: it is charged at its estimate, so a
        # teacher that under-reports never spends past the budget.
        self.spent += (
            estimate
            if answer.finish_reason == BAD_USAGE
            else self._prices(call.stage).cost(
                Usage(answer.prompt_tokens, answer.cached_tokens, answer.completion_tokens), self.batch
            )
        )
        return answer

    def stop(self) -> BudgetExceeded:
        """The error that ends a build whose budget was reached."""
        return BudgetExceeded(
            f"stopped at --max-budget ${self.budget:g}: this run spent about ${self.spent:.4f} and the next calls "
            f"would pass it, so no release was written; every answer paid for is cached, and a rerun with a "
            f"higher --max-budget continues from there"
        )
