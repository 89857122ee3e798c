"""The response cache: every answer the teacher was paid for, committed before it is used.

A plain SQLite file (inspect it with `sqlite3 OUTPUT/cache.sqlite`), keyed by a hash of the
canonical request. WAL mode with `synchronous=NORMAL` makes each commit durable against a crash,
Ctrl-C or `kill -9` of the build at the cost of a write, not an fsync, per answer.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# (the cache file, what SQLite raised) -> the build-stopping error to raise instead; given by the job,
# which knows what the user can do about a full disk, a damaged file or a newer tool's cache.
WriteError = Callable[[Path, sqlite3.Error], Exception]


class NewerCacheError(sqlite3.DatabaseError):
    """The file was made by a newer version of this tool: its tables may not be what this one writes."""

    def __init__(self, found: int, known: int) -> None:
        super().__init__(f"cache schema {found}; this version reads up to {known}")
        self.found, self.known = found, known


_MIGRATIONS = [
    """
    CREATE TABLE responses (
        key TEXT PRIMARY KEY,
        stage TEXT NOT NULL,
        identity TEXT NOT NULL,
        model TEXT NOT NULL,
        content TEXT NOT NULL,
        finish_reason TEXT,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX responses_stage ON responses(stage);
    """,
    # Prompt tokens the provider served from its prefix cache, billed at the cached rate.
    "ALTER TABLE responses ADD COLUMN cached_tokens INTEGER NOT NULL DEFAULT 0",
    # The Batch API's jobs (refed_hf/teacher/batch.py): a batch and the request keys it carries are
    # committed before the build waits on it, so a rerun re-attaches instead of paying again.
    # `batch_id` is NULL between the input file's upload and the batch's creation.
    """
    CREATE TABLE batches (
        input_file_id TEXT PRIMARY KEY,
        batch_id TEXT,
        wave TEXT NOT NULL,
        lines INTEGER NOT NULL,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        collected_at REAL
    );
    CREATE TABLE batch_lines (
        input_file_id TEXT NOT NULL,
        key TEXT NOT NULL,
        stage TEXT NOT NULL,
        identity TEXT NOT NULL,
        PRIMARY KEY (input_file_id, key)
    );
    CREATE INDEX batch_lines_key ON batch_lines(key);
    """,
]


def request_key(request: dict[str, Any]) -> str:
    """The hash of a request in canonical form (sorted keys, no whitespace)."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedAnswer:
    content: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0


class ResponseCache:
    """Answers by request key; safe to open while another build left it mid-write."""

    def __init__(self, path: str | Path, write_error: WriteError) -> None:
        self.path = Path(path)
        self._write_error = write_error
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._migrate()
            # A write now, before any call is paid for: a file that cannot take one (read-only,
            # immutable, damaged) stops the build here, not after its first answer is lost.
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(f"PRAGMA user_version={len(_MIGRATIONS)}")
            self._db.execute("SELECT count(*) FROM responses").fetchone()
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise write_error(self.path, exc) from None
        self.stored = 0  # answers this run committed (not those found in the file)

    def _migrate(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version > len(_MIGRATIONS):
            raise NewerCacheError(version, len(_MIGRATIONS))
        for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
            self._db.executescript(f"BEGIN; {script}; PRAGMA user_version={number}; COMMIT;")

    def get(self, key: str) -> CachedAnswer | None:
        try:
            row = self._db.execute(
                "SELECT content, finish_reason, prompt_tokens, completion_tokens, cached_tokens FROM responses"
                " WHERE key = ?",
                (key,),
            ).fetchone()
        except sqlite3.Error as exc:  # a page damaged past the header shows only when it is read
            raise self._write_error(self.path, exc) from None
        return CachedAnswer(*row) if row else None

    def put(self, key: str, stage: str, identity: str, model: str, answer: CachedAnswer) -> None:
        """Store an answer; a write the disk refuses (full, read-only, I/O error) raises `write_error`'s."""
        try:
            self._insert(key, stage, identity, model, answer)
        except sqlite3.Error as exc:
            raise self._write_error(self.path, exc) from None
        if not self._db.in_transaction:
            self.stored += 1

    def _insert(self, key: str, stage: str, identity: str, model: str, answer: CachedAnswer) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO responses (key, stage, identity, model, content, finish_reason,"
            " prompt_tokens, completion_tokens, created_at, cached_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                stage,
                identity,
                model,
                answer.content,
                answer.finish_reason,
                answer.prompt_tokens,
                answer.completion_tokens,
                time.time(),
                answer.cached_tokens,
            ),
        )

    def put_many(self, answers: list[tuple[str, str, str, str, CachedAnswer]]) -> None:
        """Store (key, stage, identity, model, answer) rows in one transaction: a downloaded batch."""
        self._db.execute("BEGIN")
        try:
            for row in answers:
                self.put(*row)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        self.stored += len(answers)

    # The Batch API's records (see the `batches` migration).

    def record_upload(self, input_file_id: str, wave: str, lines: list[tuple[str, str, str]]) -> None:
        """An input file of (key, stage, identity) lines uploaded, its batch not yet created."""
        self._db.execute("BEGIN")
        self._db.execute(
            "INSERT OR REPLACE INTO batches VALUES (?, NULL, ?, ?, 'uploaded', ?, NULL)",
            (input_file_id, wave, len(lines), time.time()),
        )
        self._db.executemany(
            "INSERT OR REPLACE INTO batch_lines VALUES (?, ?, ?, ?)",
            [(input_file_id, key, stage, identity) for key, stage, identity in lines],
        )
        self._db.execute("COMMIT")

    def record_batch(self, input_file_id: str, batch_id: str, status: str) -> None:
        self._db.execute(
            "UPDATE batches SET batch_id = ?, status = ? WHERE input_file_id = ?", (batch_id, status, input_file_id)
        )

    def record_collected(self, input_file_id: str, status: str) -> None:
        self._db.execute(
            "UPDATE batches SET status = ?, collected_at = ? WHERE input_file_id = ?",
            (status, time.time(), input_file_id),
        )

    def forget_upload(self, input_file_id: str) -> None:
        """An upload whose batch was never created: its lines were not paid for."""
        self._db.execute("BEGIN")
        self._db.execute("DELETE FROM batch_lines WHERE input_file_id = ?", (input_file_id,))
        self._db.execute("DELETE FROM batches WHERE input_file_id = ?", (input_file_id,))
        self._db.execute("COMMIT")

    def live_batches(self) -> list[tuple[str, str | None, str, dict[str, tuple[str, str]]]]:
        """Batches not yet collected: (input_file_id, batch_id or None, wave, {key: (stage, identity)})."""
        live = []
        for file_id, batch_id, wave in self._db.execute(
            "SELECT input_file_id, batch_id, wave FROM batches WHERE collected_at IS NULL ORDER BY created_at"
        ).fetchall():
            lines = self._db.execute(
                "SELECT key, stage, identity FROM batch_lines WHERE input_file_id = ?", (file_id,)
            ).fetchall()
            live.append((file_id, batch_id, wave, {key: (stage, identity) for key, stage, identity in lines}))
        return live

    def count(self) -> int:
        (n,) = self._db.execute("SELECT COUNT(*) FROM responses").fetchone()
        return int(n)

    def close(self) -> None:
        self._db.close()
