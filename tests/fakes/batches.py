"""The Files and Batches endpoints of the fake teacher, in the shapes of OpenAI's Batch API.

`POST /files` (multipart, purpose=batch) stores a JSONL input file; `POST /batches` validates it
(JSON lines, unique custom_id, the batch's url, one model, the enqueued-token limit) and runs it for
`duration` seconds: status validating → in_progress → finalizing → completed, after which each line
has been answered by the fake teacher's own chat-completions logic (so its faults apply: a first-sight
500 or a content-filter 400 lands in the error file). Output lines come back shuffled. Every
`expire_every`-th batch expires and every `cancel_every`-th is cancelled half-way: the lines not run
come back in the error file as `batch_expired` / `batch_cancelled`. `POST /batches/{id}/cancel`
works too. Routes answer under `/v1` (OpenAI) and `/openai` (Azure, deployment in `body.model`).

`log.submitted` counts the lines submitted per request body, so a test can assert that no line was
ever submitted twice.
"""

from __future__ import annotations

import asyncio
import email
import hashlib
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .http import Request, Response

if TYPE_CHECKING:
    from .teacher import FakeTeacher


@dataclass
class BatchFaults:
    duration: float = 0.2  # seconds from creation to completion
    expire_every: int = 0  # every n-th batch expires half-way (0: never)
    cancel_every: int = 0  # every n-th batch is cancelled half-way (0: never)
    shuffle: bool = True  # output lines in another order than the input's
    token_limit: int | None = None  # enqueued input tokens of unfinished batches, at most
    create_delay: float = 0.0  # seconds before answering a batch creation (already made): a client timeout


@dataclass
class BatchLog:
    submitted: Counter[str] = field(default_factory=Counter)  # request body digest -> lines submitted
    batches: int = 0  # batches created (failed validation included)
    token_limit_failures: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # final status -> batches


def body_digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _multipart(request: Request) -> dict[str, bytes]:
    message = email.message_from_bytes(
        b"Content-Type: " + request.headers["content-type"].encode() + b"\r\n\r\n" + request.body
    )
    return {
        part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
        for part in message.get_payload()
    }


class FakeBatches:
    """Serves the Files and Batches routes for `teacher`; `handle` returns None for other paths."""

    def __init__(self, teacher: FakeTeacher, faults: BatchFaults | None = None, seed: int = 0) -> None:
        self.teacher = teacher
        self.faults = faults or BatchFaults()
        self.log = BatchLog()
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self._enqueued: dict[str, int] = {}  # batch id -> input tokens, while unfinished
        self._rng = random.Random(seed)
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, request: Request) -> Response | None:
        parts = request.path.split("/")
        if "files" in parts:
            rest = parts[parts.index("files") + 1 :]
            if request.method == "POST" and not rest:
                return self._upload(request)
            if request.method == "GET" and len(rest) == 2 and rest[1] == "content":
                data = self.files.get(rest[0])
                if data is None:
                    return Response.of_json({"error": {"message": f"No such File object: {rest[0]}"}}, 404)
                return Response(200, data, {"Content-Type": "application/octet-stream"})
        if "batches" in parts:
            rest = parts[parts.index("batches") + 1 :]
            if request.method == "POST" and not rest:
                created = self._create(request.json(), azure="openai" in parts)
                await asyncio.sleep(self.faults.create_delay)
                return created
            if request.method == "GET" and not rest:
                data = sorted(self.batches.values(), key=lambda b: b["created_at"], reverse=True)
                return Response.of_json(
                    {
                        "object": "list",
                        "data": data,
                        "has_more": False,
                        "first_id": data[0]["id"] if data else None,
                        "last_id": data[-1]["id"] if data else None,
                    }
                )
            batch = self.batches.get(rest[0]) if rest else None
            if batch is None:
                return Response.of_json({"error": {"message": "No such batch"}}, 404)
            if request.method == "GET" and len(rest) == 1:
                return Response.of_json(batch)
            if request.method == "POST" and rest[1:] == ["cancel"]:
                if batch["status"] in ("validating", "in_progress"):
                    batch["status"] = "cancelling"
                    batch["cancelling_at"] = int(time.time())
                return Response.of_json(batch)
        return None

    def _upload(self, request: Request) -> Response:
        form = _multipart(request)
        if form.get("purpose") != b"batch":
            return Response.of_json({"error": {"message": "purpose must be batch"}}, 400)
        file_id = f"file-{len(self.files) + 1:06d}"
        self.files[file_id] = form["file"]
        return Response.of_json(
            {
                "id": file_id,
                "object": "file",
                "bytes": len(form["file"]),
                "created_at": int(time.time()),
                "filename": "input.jsonl",
                "purpose": "batch",
                "status": "processed",
            }
        )

    def _create(self, params: dict[str, Any], azure: bool) -> Response:
        self.log.batches += 1
        number = self.log.batches
        batch_id = f"batch_{number:06d}"
        now = int(time.time())
        batch: dict[str, Any] = {
            "id": batch_id,
            "object": "batch",
            "endpoint": params["endpoint"],
            "errors": None,
            "input_file_id": params["input_file_id"],
            "completion_window": params["completion_window"],
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "expires_at": now + 86400,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": params.get("metadata"),
        }
        if params["input_file_id"] not in self.files:
            return Response.of_json({"error": {"message": "input file not found"}}, 400)
        self.batches[batch_id] = batch
        lines, problem = self._validate(self.files[params["input_file_id"]], params["endpoint"])
        if problem is None:
            tokens = sum(len(json.dumps(line["body"]["messages"])) // 4 for line in lines)
            limit = self.faults.token_limit
            if limit is not None and sum(self._enqueued.values()) + tokens > limit:
                self.log.token_limit_failures += 1
                problem = {
                    "code": "token_limit_exceeded",
                    "line": None,
                    "message": "Enqueued token limit reached for the model. Please try again once "
                    "some in_progress batches have been completed.",
                }
            else:
                self._enqueued[batch_id] = tokens
        if problem is not None:
            batch.update(status="failed", failed_at=now, errors={"object": "list", "data": [problem]})
            self.log.outcomes["failed"] += 1
            return Response.of_json(batch)
        for line in lines:
            self.log.submitted[body_digest(line["body"])] += 1
        batch["request_counts"]["total"] = len(lines)
        end = (
            "expired"
            if self.faults.expire_every and number % self.faults.expire_every == 0
            else ("cancelled" if self.faults.cancel_every and number % self.faults.cancel_every == 0 else "completed")
        )
        task = asyncio.get_running_loop().create_task(self._run(batch, lines, end))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return Response.of_json(batch)

    @staticmethod
    def _validate(data: bytes, endpoint: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        lines: list[dict[str, Any]] = []
        seen: set[str] = set()
        models: set[str] = set()
        for number, raw in enumerate(data.decode().splitlines(), start=1):
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                return [], {"code": "invalid_json_line", "line": number, "message": "not JSON"}
            if line.get("custom_id") in seen:
                return [], {"code": "duplicate_custom_id", "line": number, "message": "custom_id repeated"}
            if line.get("url") != endpoint or line.get("method") != "POST":
                return [], {"code": "url_mismatch", "line": number, "message": "url differs from the batch's"}
            seen.add(line["custom_id"])
            models.add(line["body"].get("model"))
            if len(models) > 1:
                return [], {"code": "model_mismatch", "line": number, "message": "one model per file"}
            lines.append(line)
        if not lines:
            return [], {"code": "empty_file", "line": None, "message": "no lines"}
        return lines, None

    async def _run(self, batch: dict[str, Any], lines: list[dict[str, Any]], end: str) -> None:
        await asyncio.sleep(min(0.05, self.faults.duration / 4))
        batch.update(status="in_progress", in_progress_at=int(time.time()))
        await asyncio.sleep(self.faults.duration / 2)
        # An expiring or cancelled batch runs half its lines; the rest come back unrun.
        run = lines if end == "completed" else lines[: len(lines) // 2]
        done = await asyncio.gather(*(self.teacher._complete(line["body"]) for line in run))
        if batch["status"] == "cancelling":  # cancelled by the client while it ran
            end = "cancelled"
        outputs, errors = [], []
        for line, response in zip(run, done):
            entry = {
                "id": f"batch_req_{body_digest(line['body'])[:12]}",
                "custom_id": line["custom_id"],
                "response": {
                    "status_code": response.status,
                    "request_id": "req_fake",
                    "body": json.loads(response.body),
                },
                "error": None,
            }
            (outputs if response.status == 200 else errors).append(entry)
        code = {"expired": "batch_expired", "cancelled": "batch_cancelled"}.get(end)
        for line in lines[len(run) :]:
            errors.append(
                {
                    "id": f"batch_req_{body_digest(line['body'])[:12]}",
                    "custom_id": line["custom_id"],
                    "response": None,
                    "error": {"code": code, "message": f"This request was not run: {end}"},
                }
            )
        if self.faults.shuffle:
            self._rng.shuffle(outputs)
            self._rng.shuffle(errors)
        batch.update(status="finalizing", finalizing_at=int(time.time()))
        await asyncio.sleep(self.faults.duration / 4)
        for name, entries in (("output_file_id", outputs), ("error_file_id", errors)):
            if entries:  # a file is absent when it would be empty
                file_id = f"file-{len(self.files) + 1:06d}"
                self.files[file_id] = "".join(json.dumps(e) + "\n" for e in entries).encode()
                batch[name] = file_id
        batch["request_counts"] = {"total": len(lines), "completed": len(outputs), "failed": len(errors)}
        batch.update(status=end, **{f"{end}_at": int(time.time())})
        self._enqueued.pop(batch["id"], None)
        self.log.outcomes[end] += 1
