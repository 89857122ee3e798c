"""A fake OpenAI-compatible teacher: a real HTTP server on 127.0.0.1.

It answers `/v1/chat/completions` deterministically from the request (the same request always
gets the same answer), in the shape the requested schema asks for, and can misbehave on purpose:
latency with lognormal jitter, a concurrency cap answered with 429 + Retry-After, a share of 429s
and 500s (on a request's first sighting, so a retry gets through), malformed JSON, answers wrapped
in code fences, and a content-filter refusal for any prompt holding a marker. It counts every
request, so tests can check what was (not) asked again. Like a provider's automatic prompt caching,
it reports `usage.prompt_tokens_details.cached_tokens` for the part of a prompt (in `cache_block`-token
blocks) that starts like one it has seen; and it serves the Batch API's Files and Batches endpoints
(`tests/fakes/batches.py`).

Run standalone (for benchmarks): `python -m tests.fakes.teacher --port 8000 --latency 0.5 --cap 64`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from .batches import BatchFaults, FakeBatches
from .http import Request, Response, ThreadedServer

CONTENT_FILTER_MARKER = "FORBIDDEN-TOPIC"
# The bodies OpenAI sends for a bad key and for an account out of credit (the latter is a 429 that
# waiting never clears).
INVALID_KEY = {
    "error": {
        "message": "Incorrect API key provided: sk-***. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
}
INSUFFICIENT_QUOTA = {
    "error": {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    }
}


@dataclass
class TeacherFaults:
    latency: float = 0.0  # mean seconds per answer
    jitter_sigma: float = 0.0  # lognormal sigma; the mean stays `latency`
    cap: int | None = None  # concurrent calls served; more get 429
    retry_after: float = 0.05  # seconds, sent on every 429
    rate_429: float = 0.0  # share of first sightings answered 429
    rate_500: float = 0.0  # share of first sightings answered 500
    rate_malformed: float = 0.0  # share of first asks answered with broken JSON
    malformed_reasks: bool = False  # break re-asks (requests that continue a conversation) too
    rate_fenced: float = 0.0  # share of answers wrapped in ```json fences
    rate_content_filter: float = 0.0  # share of questions refused with a content-filter error
    api_key: str | None = None  # when set, other keys get 401
    revoke_after: int | None = None  # the key is revoked after this many completion requests: 401 from then on
    quota_after: int | None = None  # the account runs out of quota after this many: 429 insufficient_quota
    rate_no_change: float = 0.0  # share of questions whose improvement copies the response unchanged
    rate_empty_analysis: float = 0.0  # share of questions whose improvement has no analysis, plan or rationale
    rate_repeated_instructions: float = 0.0  # share of questions whose instructions repeat the reference / each other
    models: str | None = None  # comma-separated models served; others get 404 model_not_found
    words: int = 12  # length of generated texts
    cache_block: int = 32  # prompt tokens per prefix-cache block (0: no prefix cache)
    # Bad data that still validates (issue 12's filters must catch it), each a share of items:
    rate_duplicate: float = 0.0  # instructions replaced by a stock one (the same across references)
    rate_seed_copy: float = 0.0  # instructions replaced by the reference (seed) instruction, recased
    rate_refusal: float = 0.0  # responses / improved responses that are an apology or empty markup
    rate_refusal_field: float = 0.0  # responses / improvements refused through the API's `refusal` field
    rate_truncated: float = 0.0  # improved responses cut to their first words
    judge_prefers_improved: float = (
        0.8  # share of judge calls that pick the improved response (the rest: tie or the other)
    )
    negative_usage: bool = False  # report every answer's token counts as negative numbers


@dataclass
class TeacherLog:
    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    by_schema: Counter[str] = field(default_factory=Counter)
    answered: Counter[str] = field(default_factory=Counter)  # request hash -> valid answers given
    sightings: Counter[str] = field(default_factory=Counter)
    paths: Counter[str] = field(default_factory=Counter)
    starts: list[float] = field(default_factory=list)  # monotonic time of each completion request
    tokens: list[tuple[float, int]] = field(default_factory=list)  # (start time, tokens) of each answer
    peak_in_flight: int = 0
    prompts: list[str] = field(default_factory=list)  # the user message of each answered completion
    answered_at: list[float] = field(default_factory=list)  # monotonic time each valid answer was sent
    roles: Counter[str] = field(default_factory=Counter)  # the roles of the messages of answered questions
    sampling: Counter[tuple[Any, ...]] = field(default_factory=Counter)  # (temperature, top_p, max_tokens)


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _share(digest: str, salt: str) -> float:
    return int(hashlib.sha256((salt + digest).encode()).hexdigest()[:8], 16) / 2**32


# Each schema by the names and types of its top-level fields (how it is recognised without structured outputs).
_SCHEMA_FIELDS = {
    "ReferenceFeatures": {"subject_areas": "array", "relevant_skills": "array"},
    "InstructionDescription": {"subject_areas": "string", "relevant_skills": "string"},
    "ResponseFeedback": {"strengths": "array", "improvements": "array"},
    "ProseFeedback": {"response_feedback": "string"},
    "GeneratedInstructions": {"instructions": "array"},
    "GeneratedResponse": {"response": "string"},
    "Improvement": {"analysis": "object", "implementation_strategy": "object", "improved_response": "string"},
    "JudgeVerdict": {"reason": "string", "verdict": "string"},
}
SCHEMA_NOTE = "follows this JSON schema:\n"


def _schema_name(body: dict[str, Any]) -> str:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return fmt["json_schema"]["name"]
    # Without structured outputs the schema ends the first user message: recognise it by its fields.
    text = first_user(body["messages"])
    if SCHEMA_NOTE not in text:
        return "unknown"
    properties = json.loads(text.rsplit(SCHEMA_NOTE, 1)[1]).get("properties", {})
    shape = {name: spec.get("type") for name, spec in properties.items()}
    return next((name for name, fields in _SCHEMA_FIELDS.items() if fields == shape), "unknown")


def first_user(messages: list[dict[str, Any]]) -> str:
    """The first user message: the prompt, whether a system message comes before it or not."""
    return next((m["content"] for m in messages if m["role"] == "user"), "")


def _question(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages up to the first user message: what a re-ask continues, not what it adds."""
    end = next((i for i, m in enumerate(messages) if m["role"] == "user"), len(messages) - 1)
    return messages[: end + 1]


def fake_verdict(digest: str, prompt: str, prefers_improved: float) -> dict[str, Any]:
    """A judge's verdict: the improved response (the one the fake wrote as "Improved [...]") with
    probability `prefers_improved`, otherwise a tie or the other one, half each."""
    rng = random.Random(digest)
    after_a = prompt.split("### Response A", 1)[-1]
    improved = "A" if after_a.split("### Response B", 1)[0].strip().startswith("Improved [") else "B"
    other = "B" if improved == "A" else "A"
    draw = rng.random()
    verdict = improved if draw < prefers_improved else ("tie" if draw < (1 + prefers_improved) / 2 else other)
    return {"reason": f"Response {verdict} is clearer and more complete.", "verdict": verdict}


def fake_answer(schema: str, digest: str, prompt: str, words: int) -> dict[str, Any]:
    """A valid answer for `schema`, determined by the request's digest."""
    rng = random.Random(digest)
    vocabulary = [
        "clear",
        "step",
        "example",
        "accurate",
        "concise",
        "structure",
        "context",
        "detail",
        "reason",
        "tone",
        "practical",
        "evidence",
        "summary",
        "audience",
        "method",
        "result",
    ]

    def text(prefix: str) -> str:
        return f"{prefix} " + " ".join(rng.choice(vocabulary) for _ in range(words))

    tag = digest[:8]
    if schema == "ReferenceFeatures":
        return {
            "subject_areas": [text(f"subject-{tag}")[:40] for _ in range(2)],
            "relevant_skills": [text(f"skill-{tag}")[:40] for _ in range(2)],
        }
    if schema == "ResponseFeedback":
        return {"strengths": [text("strength") for _ in range(3)], "improvements": [text("improve") for _ in range(3)]}
    if schema == "InstructionDescription":
        return {"subject_areas": text(f"Subjects [{tag}]:"), "relevant_skills": text(f"Skills [{tag}]:")}
    if schema == "ProseFeedback":
        return {"response_feedback": text(f"Feedback [{tag}]: strong") + ". " + text("It could improve")}
    if schema == "GeneratedInstructions":
        return {"instructions": [text(f"Instruction {i} [{tag}]:") for i in range(10)]}
    if schema == "GeneratedResponse":
        return {"response": text(f"Response [{tag}]:")}
    if schema == "Improvement":
        return {
            "analysis": {
                "original_strengths": [text("good")],
                "improvement_opportunities": [text("gap")],
                "relevant_feedback": [text("applies")],
            },
            "implementation_strategy": {"planned_changes": [text("change")], "rationale": text("because")},
            "improved_response": text(f"Improved [{tag}]:"),
        }
    raise ValueError(f"fake teacher: unknown schema {schema!r} for prompt {prompt[:80]!r}")


STOCK_INSTRUCTIONS = [
    "Explain binary search to a beginner.",
    "Write a haiku about autumn rain.",
    "List three tips for a job interview.",
]
REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I cannot assist with this request.",
    "As an AI language model, I cannot answer that.",
    "<p> </p>",
    "```\n\n```",
]


def _plant_bad_data(
    f: TeacherFaults, schema: str, question: str, prompt: str, answer: dict[str, Any]
) -> dict[str, Any]:
    """Answers that validate but should never become records; the same question plants the same."""
    if schema == "GeneratedInstructions":
        reference = prompt.split("### Reference instruction\n", 1)[-1].split("\n\n", 1)[0]
        for i in range(len(answer["instructions"])):
            if _share(f"{question}/{i}", "dup") < f.rate_duplicate:
                stock = STOCK_INSTRUCTIONS[int(_share(f"{question}/{i}", "which") * len(STOCK_INSTRUCTIONS))]
                answer["instructions"][i] = stock.upper() if i % 2 else stock  # case does not hide a copy
            elif _share(f"{question}/{i}", "seed") < f.rate_seed_copy:
                # A near copy: an exact one is already refused as repeating the reference (issue 11).
                answer["instructions"][i] = reference.lower() + " please"
    key = {"GeneratedResponse": "response", "Improvement": "improved_response"}.get(schema)
    if key and _share(question, "refusal") < f.rate_refusal:
        answer[key] = REFUSALS[int(_share(question, "which-refusal") * len(REFUSALS))]
    elif schema == "Improvement" and _share(question, "truncated") < f.rate_truncated:
        answer[key] = " ".join(answer[key].split()[:3])
    return answer


class FakeTeacher:
    """Start with `.start()`; `.url` is the base URL to give the client (ends in /v1)."""

    def __init__(
        self, faults: TeacherFaults | None = None, port: int = 0, seed: int = 0, batch_faults: BatchFaults | None = None
    ) -> None:
        self.faults = faults or TeacherFaults()
        self.log = TeacherLog()
        self.batches = FakeBatches(self, batch_faults, seed)  # the Files and Batches endpoints
        self._prefixes: set[bytes] = set()
        self.in_flight = 0
        self.key_revoked = False
        self._rng = random.Random(seed)
        self._server = ThreadedServer(self._handle, port)

    @property
    def url(self) -> str:
        return self._server.url + "/v1"

    def start(self) -> FakeTeacher:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def _latency(self) -> float:
        f = self.faults
        if f.latency <= 0:
            return 0.0
        if f.jitter_sigma <= 0:
            return f.latency
        mu = math.log(f.latency) - f.jitter_sigma**2 / 2
        return self._rng.lognormvariate(mu, f.jitter_sigma)

    async def _handle(self, request: Request) -> Response:
        if request.path.endswith("/_stats"):
            return Response.of_json(self.stats())
        f = self.faults
        if self.key_revoked or (
            f.api_key is not None and request.headers.get("authorization") != f"Bearer {f.api_key}"
        ):
            if request.path.endswith("/chat/completions"):
                self.log.requests += 1
                self.log.by_status[401] += 1
            return Response.of_json(INVALID_KEY, 401)
        if request.path.endswith("/models"):
            return Response.of_json(
                {"object": "list", "data": [{"id": "fake-teacher", "object": "model", "owned_by": "tests"}]}
            )
        batch_api = await self.batches.handle(request)
        if batch_api is not None:
            return batch_api
        if not request.path.endswith("/chat/completions"):
            return Response.of_json({"error": {"message": f"no route {request.path}"}}, 404)
        self.log.requests += 1
        self.log.paths[request.path] += 1
        if f.revoke_after is not None and self.log.requests > f.revoke_after:
            self.key_revoked = True
            self.log.by_status[401] += 1
            return Response.of_json(INVALID_KEY, 401)
        if f.quota_after is not None and self.log.requests > f.quota_after:
            self.log.by_status[429] += 1
            return Response.of_json(INSUFFICIENT_QUOTA, 429)
        started = time.monotonic()
        self.log.starts.append(started)
        self.in_flight += 1
        try:
            self.log.peak_in_flight = max(self.log.peak_in_flight, self.in_flight)
            response = await self._complete(request.json())
            if response.status == 200:
                self.log.tokens.append((started, json.loads(response.body)["usage"]["total_tokens"]))
        finally:
            self.in_flight -= 1
        self.log.by_status[response.status] += 1
        return response

    async def _complete(self, body: dict[str, Any]) -> Response:
        f = self.faults
        digest = _digest(
            {k: body.get(k) for k in ("model", "messages", "response_format", "temperature", "top_p", "max_tokens")}
        )
        # The answer depends on the question (system + first user message) only, as a model's would:
        # a re-ask after a broken answer gets the same content, so faults do not change the records.
        question = _digest([_question(body["messages"]), _schema_name(body)])
        self.log.sightings[digest] += 1
        first_sighting = self.log.sightings[digest] == 1
        if f.cap is not None and self.in_flight > f.cap:
            return Response.of_json(
                {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}},
                429,
                {"Retry-After": str(f.retry_after)},
            )
        if first_sighting and _share(digest, "429") < f.rate_429:
            return Response.of_json(
                {"error": {"message": "Rate limit reached"}}, 429, {"Retry-After": str(f.retry_after)}
            )
        if first_sighting and _share(digest, "500") < f.rate_500:
            return Response.of_json({"error": {"message": "The server had an error"}}, 500)
        prompt = first_user(body["messages"])
        refused = _share(question, "filter") < f.rate_content_filter
        if refused or any(CONTENT_FILTER_MARKER in m["content"] for m in body["messages"]):
            return Response.of_json(
                {
                    "error": {
                        "message": "The response was filtered",
                        "type": "invalid_request_error",
                        "code": "content_filter",
                    }
                },
                400,
            )
        if f.models is not None and body.get("model") not in f.models.split(","):
            return Response.of_json(
                {
                    "error": {
                        "message": f"The model `{body.get('model')}` does not exist or you do not have access to it.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "model_not_found",
                    }
                },
                404,
            )
        delay = self._latency()
        if delay:
            await asyncio.sleep(delay)
        schema = _schema_name(body)
        self.log.by_schema[schema] += 1
        self.log.prompts.append(prompt)
        self.log.roles.update(m["role"] for m in _question(body["messages"]))
        self.log.sampling[(body.get("temperature"), body.get("top_p"), body.get("max_tokens"))] += 1
        if schema == "JudgeVerdict":
            answer = fake_verdict(question, prompt, f.judge_prefers_improved)
        else:
            answer = _plant_bad_data(f, schema, question, prompt, fake_answer(schema, question, prompt, f.words))
        self._spoil(answer, schema, question, prompt)
        content = json.dumps(answer)
        is_reask = len(body["messages"]) > 2
        if _share(digest, "malformed") < f.rate_malformed and (f.malformed_reasks or not is_reask):
            content = content[: len(content) // 2] + "}} oops"
        else:
            self.log.answered[digest] += 1
            self.log.answered_at.append(time.monotonic())
            if _share(digest, "fence") < f.rate_fenced:
                content = f"```json\n{content}\n```"
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if schema in ("GeneratedResponse", "Improvement") and _share(question, "refusal-field") < f.rate_refusal_field:
            # As OpenAI answers under structured outputs: no content, the reason in `refusal`.
            message = {"role": "assistant", "content": None, "refusal": "I'm sorry, I cannot assist with that request."}
        prompt_tokens = len(json.dumps(body["messages"])) // 4
        completion_tokens = len(content) // 4
        cached_tokens = self._cached_prefix(json.dumps(body["messages"]))
        if f.negative_usage:
            prompt_tokens, completion_tokens, cached_tokens = -prompt_tokens, -completion_tokens, -cached_tokens
        return Response.of_json(
            {
                "id": f"chatcmpl-{digest[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                    "prompt_tokens_details": {"cached_tokens": cached_tokens},
                },
            }
        )

    def _spoil(self, answer: dict[str, Any], schema: str, question: str, prompt: str) -> None:
        """Well-formed answers that do not do their job, as weak models give them."""
        f = self.faults
        if schema == "Improvement" and _share(question, "nochange") < f.rate_no_change:
            shown = prompt.split("### Response\n", 1)[-1].split("\n\n### Feedback", 1)[0]
            answer["improved_response"] = "  " + shown.replace(" ", "  ") + "\n"  # same text, other spacing
        if schema == "Improvement" and _share(question, "empty") < f.rate_empty_analysis:
            answer["analysis"] = {"original_strengths": [], "improvement_opportunities": [], "relevant_feedback": [" "]}
            answer["implementation_strategy"] = {"planned_changes": [], "rationale": ""}
        if schema == "GeneratedInstructions" and _share(question, "repeat") < f.rate_repeated_instructions:
            reference = prompt.split("### Reference instruction\n", 1)[-1].split("\n\nThe instruction above", 1)[0]
            items = answer["instructions"]
            items[1] = items[0].upper() + " "  # the same instruction, other case and spacing
            items[2] = reference

    def _cached_prefix(self, prompt: str) -> int:
        """Prompt tokens served from the prefix cache, as a provider's automatic caching would:
        the longest whole number of `cache_block`-token blocks this prompt shares with one seen before."""
        block = self.faults.cache_block * 4  # characters, at 4 characters a token
        if block <= 0:
            return 0
        running = hashlib.sha256()
        cached = 0
        data = prompt.encode()
        for end in range(block, len(data) + 1, block):
            running.update(data[end - block : end])
            digest = running.copy().digest()
            if digest in self._prefixes:
                cached = end // 4
            else:
                self._prefixes.add(digest)
        return cached

    def most_in_window(self, seconds: float = 60.0, tokens: bool = False) -> int:
        """The most completion requests (or, with `tokens`, answered tokens) that started within any `seconds`."""
        events = sorted(self.log.tokens) if tokens else [(stamp, 1) for stamp in sorted(self.log.starts)]
        most = total = first = 0
        for stamp, amount in events:
            total += amount
            while stamp - events[first][0] >= seconds:
                total -= events[first][1]
                first += 1
            most = max(most, total)
        return most

    def stats(self) -> dict[str, Any]:
        log = self.log
        return {
            "requests": log.requests,
            "by_status": {str(k): v for k, v in log.by_status.items()},
            "by_schema": dict(log.by_schema),
            "answered": sum(log.answered.values()),
            "repeated_answers": sum(n - 1 for n in log.answered.values() if n > 1),
            "peak_in_flight": log.peak_in_flight,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", help="write the base URL here once listening")
    for name, value in asdict(TeacherFaults()).items():
        kind = float if isinstance(value, float) else int if isinstance(value, int) else str
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=value)
    args = vars(parser.parse_args())
    port, ready = args.pop("port"), args.pop("ready_file")
    teacher = FakeTeacher(TeacherFaults(**args), port=port).start()
    if ready:
        with open(ready, "w", encoding="utf-8") as out:
            out.write(teacher.url)
    print(teacher.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        teacher.stop()


if __name__ == "__main__":
    main()
