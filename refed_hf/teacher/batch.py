"""`--batch`: every teacher call through the OpenAI Batch API, at half the price.

The transport sits behind `Teacher.ask` in place of the direct one, so the stages and the flow do
not change. Each call it is given waits; once no new call has arrived for a moment (every item in
flight is then blocked on the teacher) the waiting calls go out as one *wave*: JSONL input files of
at most 50,000 lines and 200 MB, one batch each, `custom_id` = the request key. Batches are polled,
about a second apart at first and backing off to `--batch-poll-max`; a finished batch's output and
error files are downloaded, every answer is committed to the cache, then the waiting calls resume.
The method's waves (feedback → instructions → responses → improvements, then re-asks) emerge by
themselves.

Never paying twice across a crash, Ctrl-C or `kill -9`: the upload and the request keys it carries
are committed to `cache.sqlite` before the batch is created, and the batch id right after, before
anything waits on it. A rerun loads the batches not yet collected: a call whose key is in one of them
waits for that batch instead of being submitted again; an upload whose batch id was never recorded
is looked up in the provider's batch list by its input file.

Error-file lines are classified as direct calls are: 408/409/429/5xx, and lines a batch did not run
(expired, cancelled) go into the next wave, up to `--max-retries` times; other statuses (400, 401,
403, 404, content filter) fail their item. A batch refused for the enqueued-token limit is not a
failure of its lines: they are submitted again once a running batch has finished.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai
from openai.types.chat import ChatCompletion
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from .accounting import CallCounts
from .cache import CachedAnswer, ResponseCache
from .connection import Connection
from .estimates import text_tokens
from .retries import retryable
from .transport import Call, answer_of, count_answer

MAX_LINES = 50_000
MAX_BYTES = 200 * 2**20
_FINISHED = {"completed", "expired", "cancelled", "failed"}
_NOT_RUN = {"batch_expired", "batch_cancelled"}


class BatchLineNotRun(Exception):
    """A line the batch never ran (it expired or was cancelled), past the last retry."""


@dataclass
class _Line:
    key: str
    stage: str
    identity: str
    body: dict[str, Any]
    counts: CallCounts
    waiters: list[asyncio.Future[CachedAnswer]] = field(default_factory=list)
    attempts: int = 0

    def settle(self, answer: CachedAnswer | None = None, error: BaseException | None = None) -> None:
        for waiter in self.waiters:
            if waiter.done():
                continue
            if error is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(answer)  # type: ignore[arg-type]


@dataclass
class _Live:
    """A batch recorded in the cache and not yet collected."""

    input_file_id: str
    batch_id: str | None
    wave: str
    keys: dict[str, tuple[str, str]]  # request key -> (stage, identity)
    tokens: int = 0  # estimated input tokens, for the enqueued-token limit
    shown: str = ""


@dataclass
class BatchStats:
    """What the manifest and the card say about the Batch API's part in a build."""

    waves: int = 0
    batches: int = 0
    lines: int = 0
    answered_lines: int = 0
    failed_lines: int = 0  # failed for good (their item failed)
    retried_lines: int = 0  # submitted again: a retryable error, expired or cancelled
    expired_lines: int = 0
    cancelled_lines: int = 0
    reattached_batches: int = 0  # recorded by an earlier run and collected by this one
    token_limit_waits: int = 0
    by_wave: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _wave_label(lines: list[_Line]) -> str:
    stages = Counter(line.stage for line in lines)
    return ", ".join(f"{stage} {n}" for stage, n in stages.items())


def _chunks(payloads: list[bytes], max_lines: int, max_bytes: int, max_tokens: int | None) -> list[list[int]]:
    """Indices of `payloads` split into input files within the line, size and enqueued-token limits."""
    chunks: list[list[int]] = [[]]
    size = tokens = 0
    for index, payload in enumerate(payloads):
        over_tokens = max_tokens is not None and tokens + text_tokens(len(payload)) > max_tokens
        if chunks[-1] and (len(chunks[-1]) >= max_lines or size + len(payload) > max_bytes or over_tokens):
            chunks.append([])
            size = tokens = 0
        chunks[-1].append(index)
        size += len(payload)
        tokens += text_tokens(len(payload))
    return chunks if chunks[0] else []


class BatchTransport:
    """A `Transport` (see `transport.py`) that answers calls through the Batch API."""

    def __init__(
        self,
        connection: Connection,
        cache: ResponseCache,
        *,
        model: str,
        max_retries: int,
        azure: bool,
        poll_max: float,
        token_limit: int | None,
        max_lines: int = MAX_LINES,
        max_bytes: int = MAX_BYTES,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.stats = BatchStats()
        self._connection = connection
        self._cache = cache
        self._model = model
        self._max_retries = max_retries
        # Azure's batch lines name the route without the version prefix; the deployment is body.model.
        self._endpoint = "/chat/completions" if azure else "/v1/chat/completions"
        self._poll_first = min(1.0, poll_max)
        self._poll_max = poll_max
        self._settle = min(0.5, poll_max)
        self._token_limit = token_limit
        self._learned_limit: int | None = None  # from refusals, when the setting is missing or too high
        self._max_lines = max_lines
        self._max_bytes = max_bytes
        self._say = say or (lambda text: None)
        self._queue: dict[str, _Line] = {}  # waiting to be submitted
        self._waiting: dict[str, _Line] = {}  # in a live batch, with this run's waiters
        self._live: dict[str, _Live] = {}  # by input file id
        self._key_batch: dict[str, str] = {}  # request key -> input file id of its live batch
        self._hold = False  # the enqueued-token limit was hit: wait for a batch to finish
        self._last_arrival = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: asyncio.Task[None] | None = None
        for file_id, batch_id, wave, keys in cache.live_batches():
            self._live[file_id] = _Live(file_id, batch_id, wave, keys)
            self._key_batch.update(dict.fromkeys(keys, file_id))
        self._inherited = set(self._live)  # recorded by an earlier run

    async def send(self, call: Call) -> CachedAnswer:
        body, counts, key, stage, identity = call.body, call.counts, call.key, call.stage, call.identity
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # datasets runs each map in its own event loop: waiters and the worker belong to one loop.
            self._loop, self._worker = loop, None
            self._queue, self._waiting = {}, {}
        waiter: asyncio.Future[CachedAnswer] = loop.create_future()
        line = self._queue.get(key) or self._waiting.get(key)
        if line is None:
            line = _Line(key, stage, identity, body, counts)
            if key in self._key_batch:
                self._waiting[key] = line  # already in a batch an earlier run submitted: wait for it
            else:
                self._queue[key] = line
                self._last_arrival = loop.time()
        line.waiters.append(waiter)
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._work())
        return await waiter

    # The worker: submit waves, poll live batches, collect finished ones.

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self._poll_first
        try:
            while self._queue or self._waiting:
                if self._queue and not self._hold and loop.time() - self._last_arrival >= self._settle:
                    await self._submit_wave()
                    delay = self._poll_first
                if self._live and await self._poll():
                    delay = self._poll_first
                if not (self._queue or self._waiting):
                    break
                if self._queue and not self._hold:
                    await asyncio.sleep(self._settle)
                else:
                    await asyncio.sleep(delay)
                    delay = min(self._poll_max, delay * 2)
                    if self._hold and not self._live:
                        self._hold = False  # nothing of ours is enqueued any more: try again
        except Exception as exc:  # noqa: BLE001 - the waiting calls must not hang; a rerun re-attaches
            for line in [*self._queue.values(), *self._waiting.values()]:
                line.settle(error=exc)
            self._queue, self._waiting = {}, {}

    async def _call(self, make: Callable[[], Any], resend: bool = True) -> Any:
        """A Batch API management call, retried like a chat call on transient errors; with
        `resend=False` not after a lost connection or a timeout, when the call may have taken effect."""
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self._max_retries + 1),
            wait=wait_random_exponential(multiplier=0.5, max=30),
            retry=retry_if_exception(lambda exc: retryable(exc) and (resend or isinstance(exc, openai.APIStatusError))),
            reraise=True,
        ):
            with attempt:
                return await make()
        raise AssertionError("unreachable")

    async def _submit_wave(self) -> None:
        # Lines leave the queue only once their file is uploaded: if a call fails, the worker settles
        # every line still queued or waiting, so none is left hanging.
        lines = list(self._queue.values())
        self.stats.waves += 1
        wave = f"{self.stats.waves}: {_wave_label(lines)}"
        payloads = [
            (
                json.dumps(
                    {"custom_id": line.key, "method": "POST", "url": self._endpoint, "body": line.body},
                    ensure_ascii=False,
                )
                + "\n"
            ).encode()
            for line in lines
        ]
        sent: Counter[str] = Counter()
        record: dict[str, Any] = {"wave": self.stats.waves, "stages": sent, "batches": 0, "lines": 0}
        self.stats.by_wave.append(record)
        limits = [limit for limit in (self._token_limit, self._learned_limit) if limit is not None]
        token_limit = min(limits) if limits else None
        for chunk in _chunks(payloads, self._max_lines, self._max_bytes, token_limit):
            chosen = [lines[i] for i in chunk]
            tokens = sum(text_tokens(len(payloads[i])) for i in chunk)
            enqueued = sum(live.tokens for live in self._live.values())
            if token_limit is not None and self._live and enqueued + tokens > token_limit:
                # Over the enqueued-token limit: these stay queued until a running batch has finished.
                self._hold = True
                self.stats.token_limit_waits += 1
                continue
            await self._submit(chosen, b"".join(payloads[i] for i in chunk), wave, tokens)
            record["batches"] += 1
            record["lines"] += len(chosen)
            sent.update(line.stage for line in chosen)
        record["stages"] = dict(sent)
        if not record["batches"]:  # everything waits for the enqueued-token limit: no wave went out
            self.stats.by_wave.pop()
            self.stats.waves -= 1

    def _requeue(self, lines: list[_Line]) -> None:
        for line in lines:
            self._queue[line.key] = line

    async def _submit(self, lines: list[_Line], payload: bytes, wave: str, tokens: int) -> None:
        client = self._connection.client()
        upload = await self._call(
            lambda: client.files.create(file=("refed-batch.jsonl", payload, "application/jsonl"), purpose="batch")
        )
        keys = {line.key: (line.stage, line.identity) for line in lines}
        # Committed before the batch exists, so a crash in between is found again by its input file.
        self._cache.record_upload(upload.id, wave, [(key, *where) for key, where in keys.items()])
        live = _Live(upload.id, None, wave, keys, tokens)
        self._live[upload.id] = live
        for line in lines:
            line.counts.requests += 1
            self._queue.pop(line.key, None)
            self._waiting[line.key] = line
            self._key_batch[line.key] = upload.id
        self.stats.batches += 1
        self.stats.lines += len(lines)
        try:
            batch = await self._call(
                lambda: client.batches.create(
                    input_file_id=upload.id,
                    endpoint=self._endpoint,  # type: ignore[arg-type]
                    completion_window="24h",
                    metadata={"refed_wave": wave[:512]},
                ),
                resend=False,  # a second create of the same file would run (and bill) it twice
            )
        except openai.APIConnectionError:
            return  # it may exist: the next poll looks it up by its input file
        live.batch_id = batch.id
        self._cache.record_batch(upload.id, batch.id, batch.status)

    async def _poll(self) -> bool:
        """Check every live batch once; True when one finished."""
        finished = False
        client = self._connection.client()
        for live in list(self._live.values()):
            if live.batch_id is None and not await self._adopt(live):
                continue
            assert live.batch_id is not None
            batch = await self._call(lambda batch_id=live.batch_id: client.batches.retrieve(batch_id))  # type: ignore[misc]
            counts = batch.request_counts
            shown = f"{batch.status} {counts.completed if counts else 0}/{counts.total if counts else 0}"
            if shown != live.shown:
                live.shown = shown
                done = f"{counts.completed}/{counts.total} done, {counts.failed} failed" if counts else ""
                self._say(f"batch {batch.id} (wave {live.wave}): {batch.status} {done}".rstrip())
            if batch.status in _FINISHED:
                await self._collect(live, batch)
                finished = True
        return finished

    async def _adopt(self, live: _Live) -> bool:
        """Find the batch of an upload whose batch id was never recorded (a crash in between)."""
        client = self._connection.client()
        page = await self._call(lambda: client.batches.list(limit=100))
        for batch in page.data:
            if batch.input_file_id == live.input_file_id:
                live.batch_id = batch.id
                self._cache.record_batch(live.input_file_id, batch.id, batch.status)
                return True
        # Never created: nothing was paid; the lines are asked again.
        self._cache.forget_upload(live.input_file_id)
        del self._live[live.input_file_id]
        retry = []
        for key in live.keys:
            self._key_batch.pop(key, None)
            line = self._waiting.pop(key, None)
            if line is not None:
                retry.append(line)
        self._requeue(retry)
        return False

    async def _content(self, file_id: str | None) -> list[dict[str, Any]]:
        if not file_id:
            return []
        client = self._connection.client()
        content = await self._call(lambda: client.files.content(file_id))
        return [json.loads(raw) for raw in content.text.splitlines() if raw.strip()]

    async def _collect(self, live: _Live, batch: Any) -> None:
        answers: dict[str, CachedAnswer] = {}
        errors: dict[str, BaseException | str] = {}  # an exception to fail with, or a code to retry
        if batch.status == "failed":
            codes = {error.code for error in (batch.errors.data if batch.errors and batch.errors.data else [])}
            limited = "token_limit_exceeded" in codes
            if limited:
                # Refused for the enqueued-token limit: not a failure of its lines. With other batches
                # of ours running, wait for one to finish; alone, the file is over the limit by itself,
                # so later files are cut to half its size (a single line refused alone does fail).
                self.stats.token_limit_waits += 1
                if len(self._live) > 1:
                    self._hold = True
                else:
                    self._learned_limit = max(1, min(self._learned_limit or live.tokens, live.tokens) // 2)
                    limited = len(live.keys) > 1
            errors = dict.fromkeys(live.keys, "token_limit_exceeded" if limited else "batch_failed")
        else:
            for entry in await self._content(batch.output_file_id):
                completion = ChatCompletion.model_validate(entry["response"]["body"])
                answers[entry["custom_id"]] = answer_of(completion)
            for entry in await self._content(batch.error_file_id):
                errors[entry["custom_id"]] = self._error_of(entry)
            # Answers are committed on download, before any of them is used.
            model = self._model
            self._cache.put_many(
                [(key, *live.keys[key], model, answer) for key, answer in answers.items() if key in live.keys]
            )
        self._cache.record_collected(live.input_file_id, batch.status)
        del self._live[live.input_file_id]
        if live.input_file_id in self._inherited:
            self.stats.reattached_batches += 1
        self._hold = self._hold and batch.status == "failed"
        for key in live.keys:
            self._key_batch.pop(key, None)
            line = self._waiting.pop(key, None)
            if line is None:
                continue  # nobody waits for it in this run; its answer is in the cache for later
            if key in answers:
                self.stats.answered_lines += 1
                count_answer(line.counts, answers[key])
                line.settle(answers[key])
            else:
                self._retry_or_fail(line, errors.get(key, "batch_expired"))

    def _error_of(self, entry: dict[str, Any]) -> BaseException | str:
        """An error-file line as the SDK error a direct call would have raised, or a not-run code."""
        response = entry.get("response")
        if not response:
            return str((entry.get("error") or {}).get("code") or "batch_expired")
        body = response.get("body")
        http = httpx2.Response(
            response["status_code"], json=body, request=httpx2.Request("POST", "https://batch.invalid" + self._endpoint)
        )
        message = (body.get("error") or {}).get("message", "") if isinstance(body, dict) else ""
        return self._connection.client()._make_status_error(message or "batch line failed", body=body, response=http)

    def _retry_or_fail(self, line: _Line, error: BaseException | str) -> None:
        if error == "batch_expired":
            self.stats.expired_lines += 1
        elif error == "batch_cancelled":
            self.stats.cancelled_lines += 1
        again = isinstance(error, str) or retryable(error)
        counted = error != "token_limit_exceeded"  # a refused batch is not a failure of its lines
        if again and (not counted or line.attempts < self._max_retries):
            if counted:
                line.attempts += 1
                line.counts.retries += 1
                self.stats.retried_lines += 1
            self._queue[line.key] = line
            return
        self.stats.failed_lines += 1
        line.settle(error=error if isinstance(error, BaseException) else BatchLineNotRun(error))
