"""The teacher client: one call path for OpenAI, Azure OpenAI and any OpenAI-compatible server.

`Teacher.ask` is the only way the pipeline talks to a model. For each request it looks in the
response cache, hands the call to the transport it was built with (direct, Batch API, budget
guard: see `transport.py`), stores the answer *before* using it, validates it against the pydantic
schema, and asks again a bounded number of times when it does not validate. A call that fails for
good fails its own item only: `ask` returns a `Failed` with the reason.

What the teacher is asked in is given, not imported: the JSON schema of each answer model
(`schema_of`) and the follow-up message of a re-ask (`reask`), so this package knows nothing of the
method's prompts or of datasets.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from .accounting import Ledger
from .answers import InvalidAnswer, parse_answer
from .cache import ResponseCache, request_key
from .estimates import answer_kind
from .limiter import CallLimiter
from .retries import failure_reason
from .shared import Shared
from .transport import BAD_USAGE, Call, Transport

T = TypeVar("T", bound=BaseModel)

Messages = list[dict[str, str]]
SchemaOf = Callable[[type[BaseModel]], dict[str, Any]]
# (conversation so far, the answer that did not validate, what was wrong) -> the conversation to send
Reask = Callable[[Messages, str, str], Messages]


@dataclass(frozen=True)
class Sampling:
    temperature: float
    top_p: float
    max_tokens: int
    random_seed: int | None  # each request's `seed` derives from it and the sample's identity


@dataclass(frozen=True)
class Failed:
    """An item the teacher could not answer; `reason` is a short key counted in the manifest."""

    reason: str


@dataclass(frozen=True)
class Answered(Generic[T]):
    value: T


class Teacher:
    """Asks the teacher model for schema-valid answers, through the cache and the transport."""

    def __init__(
        self,
        transport: Transport,
        shared: Shared,
        *,
        model: str,
        cache: ResponseCache,
        sampling: Sampling,
        structured_outputs: bool,
        max_reasks: int,
        schema_of: SchemaOf,
        reask: Reask,
        ledger: Ledger | None = None,
    ) -> None:
        self._transport = transport
        self.shared = shared
        self.model = model
        self.cache = cache
        self.ledger = ledger or Ledger()
        self.sampling = sampling
        self.structured_outputs = structured_outputs
        self.max_reasks = max_reasks
        self._schema_of = schema_of
        self._reask = reask
        self._schemas: dict[type[BaseModel], dict[str, Any]] = {}

    def for_model(self, model: str) -> Teacher:
        """The same teacher asking another model on the same endpoint: one transport, cache, limiter
        and ledger, so its calls are paced, cached and counted with the rest."""
        if model == self.model:
            return self
        other = Teacher(
            self._transport,
            self.shared,
            model=model,
            cache=self.cache,
            sampling=self.sampling,
            structured_outputs=self.structured_outputs,
            max_reasks=self.max_reasks,
            schema_of=self._schema_of,
            reask=self._reask,
            ledger=self.ledger,
        )
        other._schemas = self._schemas
        return other

    @property
    def limiter(self) -> CallLimiter:
        """The run's gate for calls: its width is how many calls may be in flight."""
        return self.shared.limiter

    def _schema(self, model: type[BaseModel]) -> dict[str, Any]:
        # Deriving a schema costs more CPU than the rest of a call: once per model is enough.
        if model not in self._schemas:
            self._schemas[model] = self._schema_of(model)
        return self._schemas[model]

    def close_connections(self) -> None:
        """Close the HTTP client of the last event loop, once that loop has stopped running."""
        self.shared.connection.close()

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
        stop = self.shared.stop
        reason = "invalid_answer"
        for attempt in range(self.max_reasks + 1):
            body = self.request_body(messages, schema, identity)
            key = request_key({"request": body, "identity": identity})
            answer = self.cache.get(key)
            if answer is not None:
                counts.cache_hits += 1
            else:
                stop.check()
                try:
                    answer = await self._transport.send(Call(body, counts, key, stage, identity))
                    if answer.finish_reason != BAD_USAGE:  # it reports no usage to learn from
                        self.shared.estimates.learn(answer_kind(body), answer.completion_tokens)
                    self.cache.put(key, stage, identity, self.model, answer)
                except Exception as exc:  # noqa: BLE001 - a failure costs this item only, unless it is fatal
                    stop.raise_if_fatal(exc, self.model)
                    failure = failure_reason(exc)
                    counts.failures[failure] += 1
                    return Failed(failure)
            counts.used_answers += 1
            counts.used_prompt_tokens += answer.prompt_tokens
            counts.used_completion_tokens += answer.completion_tokens
            counts.used_cached_tokens += answer.cached_tokens
            if answer.finish_reason in ("content_filter", "refusal", BAD_USAGE):
                counts.failures[answer.finish_reason] += 1
                return Failed(answer.finish_reason)
            try:
                value = parse_answer(answer.content, schema, answer.finish_reason)
                if check is not None:
                    check(value)
            except InvalidAnswer as problem:
                reason = problem.reason
                counts.reasks += 1 if attempt < self.max_reasks else 0
                messages = self._reask(messages, answer.content, str(problem))
                continue
            if attempt == 0:
                counts.valid_first_try += 1
            return Answered(value)
        counts.failures[reason] += 1
        return Failed(reason)
