"""The teacher client: one call path for OpenAI, Azure OpenAI and any OpenAI-compatible server.

`Teacher.ask` is the only way the pipeline talks to a model. For each request it looks in the
response cache, waits for a place under the run's limiter, sends the call (retrying what is worth
retrying, with backoff that honours Retry-After), stores the answer *before* using it, validates it
against the pydantic schema, and asks again a bounded number of times when it does not validate.
A call that fails for good fails its own item only: `ask` returns a `Failed` with the reason.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import openai
from openai.types.chat import ChatCompletion
from pydantic import BaseModel
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from ..features import teacher_schema
from ..prompts import Messages, reask_messages
from .accounting import CallCounts, Ledger
from .answers import InvalidAnswer, parse_answer
from .cache import CachedAnswer, ResponseCache, request_key
from .estimates import CompletionEstimates, answer_kind, prompt_tokens
from .failures import FatalStop, fatal_error, is_content_filter
from .limiter import CallLimiter
from .timeouts import TimeoutPolicy

T = TypeVar("T", bound=BaseModel)

ClientFactory = Callable[[], openai.AsyncOpenAI]

_RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}

# How an answer is obtained once the cache has none: (body, counts, key, stage, identity) -> answer.
# The default sends the request directly; refed_hf/teacher/batch.py sends it through the Batch API
# and refed_hf/teacher/budget.py wraps either to stop at --max-budget.
Transport = Callable[[dict[str, Any], CallCounts, str, str, str], Awaitable[CachedAnswer]]


@dataclass(frozen=True)
class Sampling:
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 4096
    random_seed: int | None = None  # each request's `seed` derives from it and the sample's identity


@dataclass(frozen=True)
class Failed:
    """An item the teacher could not answer; `reason` is a short key counted in the manifest."""

    reason: str


@dataclass(frozen=True)
class Answered(Generic[T]):
    value: T


def _failure_reason(exc: BaseException) -> str:
    if isinstance(exc, openai.APIStatusError):
        if is_content_filter(exc):
            return "content_filter"
        return {
            400: "bad_request",
            401: "auth",
            403: "forbidden",
            404: "not_found",
            422: "bad_request",
            429: "rate_limited",
        }.get(exc.status_code, "server_error" if exc.status_code >= 500 else f"http_{exc.status_code}")
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection"
    return type(exc).__name__


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError):
        # `insufficient_quota` is a 429 that waiting never clears: it stops the build instead.
        return exc.status_code in _RETRYABLE_STATUS and not is_content_filter(exc) and fatal_error(exc, "") is None
    return isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError))


def _server_delay(exc: BaseException | None) -> float | None:
    """The wait the server asked for, from `retry-after-ms` or `Retry-After` (seconds or a date)."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    headers = response.headers
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    after = headers.get("retry-after")
    if not after:
        return None
    try:
        return float(after)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(after)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class _Backoff:
    """Exponential backoff with full jitter, unless the server said how long to wait."""

    def __init__(self, initial: float = 0.5, cap: float = 30.0) -> None:
        self.initial = initial
        self.cap = cap

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = _server_delay(exc)
        if asked is not None:
            return min(asked, 120.0) + random.uniform(0, 0.1)
        return random.uniform(0, min(self.cap, self.initial * 2 ** (state.attempt_number - 1)))


class Teacher:
    """Asks the teacher model for schema-valid answers, through the cache and the limiter."""

    def __init__(
        self,
        client_factory: ClientFactory,
        model: str,
        cache: ResponseCache,
        limiter: CallLimiter,
        ledger: Ledger | None = None,
        sampling: Sampling = Sampling(),
        structured_outputs: bool = True,
        max_reasks: int = 2,
        max_retries: int = 8,
        schema_transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        backoff: Callable[[RetryCallState], float] | None = None,
        timeouts: TimeoutPolicy | None = None,
    ) -> None:
        self.model = model
        self.cache = cache
        self.limiter = limiter
        self.ledger = ledger or Ledger()
        self.sampling = sampling
        self.structured_outputs = structured_outputs
        self.max_reasks = max_reasks
        self.max_retries = max_retries
        self._client_factory = client_factory
        self._client: openai.AsyncOpenAI | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._schema_transform = schema_transform or (lambda schema: schema)
        self._backoff = backoff or _Backoff()
        self.completion_estimates = CompletionEstimates(sampling.max_tokens)
        self._schemas: dict[type[BaseModel], dict[str, Any]] = {}
        self.timeouts = timeouts or TimeoutPolicy(None)
        self.stop = FatalStop()  # set by the first error that would hit every call: no call starts after it
        self.transport: Transport = lambda body, counts, *_: self._send(body, counts)

    def _schema(self, model: type[BaseModel]) -> dict[str, Any]:
        # Deriving a schema costs more CPU than the rest of a call: once per model is enough.
        if model not in self._schemas:
            self._schemas[model] = self._schema_transform(teacher_schema(model))
        return self._schemas[model]

    def _client_for_loop(self) -> openai.AsyncOpenAI:
        # The HTTP connection pool belongs to one event loop; datasets gives each map its own.
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = self._client_factory()
            self._client_loop = loop
        return self._client

    def close_connections(self) -> None:
        """Close the HTTP client of the last event loop, once that loop has stopped running.

        Called after each `Dataset.map`: its loop is left idle, not closed, and a client collected
        later would try to close its sockets on a loop that is gone by then.
        """
        loop, client = self._client_loop, self._client
        self._client, self._client_loop = None, None
        if client is not None and loop is not None and not loop.is_closed() and not loop.is_running():
            loop.run_until_complete(client.close())

    def request_body(self, messages: Messages, schema: type[BaseModel], identity: str = "") -> dict[str, Any]:
        """The chat-completions request, exactly as sent (and hashed for the cache)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.sampling.temperature,
            "top_p": self.sampling.top_p,
            "max_tokens": self.sampling.max_tokens,
        }
        if self.sampling.random_seed is not None:
            # Servers that honour `seed` (llama.cpp, vLLM; OpenAI on a best-effort basis) then give
            # the same answer to the same sample, so a build is reproducible from --random-seed.
            digest = hashlib.sha256(f"{self.sampling.random_seed}:{identity}".encode()).hexdigest()
            body["seed"] = int(digest[:8], 16)
        json_schema = self._schema(schema)
        if self.structured_outputs:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema.__name__, "schema": json_schema, "strict": True},
            }
        else:
            # Without structured outputs the schema travels in the prompt instead.
            note = f"\n\nAnswer with a JSON object that follows this JSON schema:\n{json.dumps(json_schema)}"
            first_user = next(i for i, m in enumerate(messages) if m["role"] == "user")
            patched = [dict(m) for m in messages]
            patched[first_user]["content"] += note
            body["messages"] = patched
        return body

    async def ask(
        self, stage: str, identity: str, messages: Messages, schema: type[T], check: Callable[[T], None] | None = None
    ) -> Answered[T] | Failed:
        """A validated answer to `messages`, or the reason there is none.

        `identity` names the sample (stage, reference, feature, index); it is part of the cache key, so
        two samples that happen to share a prompt are still two answers. `check` may reject a
        well-formed answer that does not do its job by raising `InvalidAnswer`: it is re-asked too.
        """
        counts = self.ledger.stage(stage)
        reason = "invalid_answer"
        for attempt in range(self.max_reasks + 1):
            body = self.request_body(messages, schema, identity)
            key = request_key({"request": body, "identity": identity})
            answer = self.cache.get(key)
            if answer is not None:
                counts.cache_hits += 1
            else:
                self.stop.check()
                try:
                    answer = await self.transport(body, counts, key, stage, identity)
                    self.completion_estimates.learn(answer_kind(body), answer.completion_tokens)
                    self.cache.put(key, stage, identity, self.model, answer)
                except Exception as exc:  # noqa: BLE001 - a failure costs this item only, unless it is fatal
                    self.stop.raise_if_fatal(exc, self.model)
                    failure = _failure_reason(exc)
                    counts.failures[failure] += 1
                    return Failed(failure)
            counts.used_answers += 1
            counts.used_prompt_tokens += answer.prompt_tokens
            counts.used_completion_tokens += answer.completion_tokens
            counts.used_cached_tokens += answer.cached_tokens
            if answer.finish_reason in ("content_filter", "refusal"):
                counts.failures[answer.finish_reason] += 1
                return Failed(answer.finish_reason)
            try:
                value = parse_answer(answer.content, schema, answer.finish_reason)
                if check is not None:
                    check(value)
            except InvalidAnswer as problem:
                reason = problem.reason
                counts.reasks += 1 if attempt < self.max_reasks else 0
                messages = reask_messages(messages, answer.content, str(problem))
                continue
            if attempt == 0:
                counts.valid_first_try += 1
            return Answered(value)
        counts.failures[reason] += 1
        return Failed(reason)

    async def _send(self, body: dict[str, Any], counts: CallCounts) -> CachedAnswer:
        kind = answer_kind(body)
        prompt_estimate = prompt_tokens(body)
        estimate = 0
        timed_out = 0  # timeouts of this call: each retry gets twice the time, and only a few are made

        def tokens_estimate() -> int:
            # Asked when the call is about to start, not when it was queued, so it uses the latest
            # running mean of this kind of answer's completion tokens.
            nonlocal estimate
            estimate = prompt_estimate + self.completion_estimates.expected(kind)
            return estimate

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._backoff,
            retry=retry_if_exception(
                lambda exc: (
                    _retryable(exc)
                    and not (isinstance(exc, openai.APITimeoutError) and not self.timeouts.may_retry(timed_out))
                )
            ),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    counts.retries += 1
                async with self.limiter.slot(tokens_estimate):
                    self.stop.check()  # a fatal error came while this call waited for its place
                    counts.requests += 1
                    timeout = self.timeouts.timeout(timed_out)
                    started = time.monotonic()
                    try:
                        # `post` is the same SDK path as `chat.completions.create` (auth, Azure
                        # deployments, errors) without its parameter transform, which walks every
                        # message and the nested schema on each call: about a millisecond of CPU.
                        completion = await self._client_for_loop().post(
                            "/chat/completions",
                            cast_to=ChatCompletion,
                            body=body,
                            options={"timeout": timeout} if timeout is not None else {},
                        )
                    except openai.RateLimitError:
                        counts.rate_limited += 1
                        self.limiter.on_rate_limited()
                        raise
                    except openai.APITimeoutError:
                        timed_out += 1
                        counts.timeouts += 1
                        self.timeouts.count += 1
                        raise
                    self.timeouts.record(time.monotonic() - started)
                self.limiter.on_success()
        answer = answer_of(completion)
        self.limiter.settle_tokens(estimate, answer.prompt_tokens + answer.completion_tokens)
        count_answer(counts, answer)
        return answer


def answer_of(completion: ChatCompletion) -> CachedAnswer:
    """The part of a chat completion the cache keeps: text, finish reason and usage."""
    choice = completion.choices[0]
    usage = completion.usage
    prompt_tokens = usage.prompt_tokens if usage else 0
    completion_tokens = usage.completion_tokens if usage else 0
    details = usage.prompt_tokens_details if usage else None
    cached_tokens = (details.cached_tokens or 0) if details else 0
    refusal = getattr(choice.message, "refusal", None)
    if refusal:
        return CachedAnswer(refusal, "refusal", prompt_tokens, completion_tokens, cached_tokens)
    return CachedAnswer(
        choice.message.content or "", choice.finish_reason, prompt_tokens, completion_tokens, cached_tokens
    )


def count_answer(counts: CallCounts, answer: CachedAnswer) -> None:
    """An answer received (paid for) in this run."""
    counts.answers += 1
    counts.prompt_tokens += answer.prompt_tokens
    counts.completion_tokens += answer.completion_tokens
    counts.cached_tokens += answer.cached_tokens
