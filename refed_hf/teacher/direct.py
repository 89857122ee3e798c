"""The direct transport: each call is one chat-completions request, under the run's limiter,
retried when that is worth it (with backoff that honours Retry-After), timed out by the policy."""

from __future__ import annotations

import time
from collections.abc import Callable

import openai
from openai.types.chat import ChatCompletion
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from .cache import CachedAnswer
from .estimates import answer_kind, prompt_tokens
from .retries import Backoff, retryable
from .shared import Shared
from .timeouts import TimeoutPolicy
from .transport import Call, answer_of, count_answer


class DirectTransport:
    """A `Transport` that sends each call as its own request."""

    def __init__(
        self,
        shared: Shared,
        timeouts: TimeoutPolicy,
        max_retries: int,
        backoff: Callable[[RetryCallState], float] | None = None,
    ) -> None:
        self.shared = shared
        self.timeouts = timeouts
        self.max_retries = max_retries
        self._backoff = backoff or Backoff()

    async def send(self, call: Call) -> CachedAnswer:
        counts, body = call.counts, call.body
        limiter, estimates = self.shared.limiter, self.shared.estimates
        kind = answer_kind(body)
        prompt_estimate = prompt_tokens(body)
        estimate = 0
        timed_out = 0  # timeouts of this call: each retry gets twice the time, and only a few are made

        def tokens_estimate() -> int:
            # Asked when the call is about to start, not when it was queued, so it uses the latest
            # running mean of this kind of answer's completion tokens.
            nonlocal estimate
            estimate = prompt_estimate + estimates.expected(kind)
            return estimate

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._backoff,
            retry=retry_if_exception(
                lambda exc: (
                    retryable(exc)
                    and not (isinstance(exc, openai.APITimeoutError) and not self.timeouts.may_retry(timed_out))
                )
            ),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    counts.retries += 1
                async with limiter.slot(tokens_estimate):
                    self.shared.stop.check()  # a fatal error came while this call waited for its place
                    counts.requests += 1
                    timeout = self.timeouts.timeout(timed_out)
                    started = time.monotonic()
                    try:
                        # `post` is the same SDK path as `chat.completions.create` (auth, Azure
                        # deployments, errors) without its parameter transform, which walks every
                        # message and the nested schema on each call: about a millisecond of CPU.
                        completion = await self.shared.connection.client().post(
                            "/chat/completions",
                            cast_to=ChatCompletion,
                            body=body,
                            options={"timeout": timeout} if timeout is not None else {},
                        )
                    except openai.RateLimitError:
                        counts.rate_limited += 1
                        limiter.on_rate_limited()
                        raise
                    except openai.APITimeoutError:
                        timed_out += 1
                        counts.timeouts += 1
                        self.timeouts.count += 1
                        raise
                    self.timeouts.record(time.monotonic() - started)
                limiter.on_success()
        answer = answer_of(completion)
        limiter.settle_tokens(estimate, answer.prompt_tokens + answer.completion_tokens)
        count_answer(counts, answer)
        return answer
