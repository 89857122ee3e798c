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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..diskspace import cache_write_error

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


class ResponseCache:
    """Answers by request key; safe to open while another build left it mid-write."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._migrate()
        except sqlite3.Error as exc:
            raise cache_write_error(self.path, exc) from None

    def _migrate(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
            self._db.executescript(f"BEGIN; {script}; PRAGMA user_version={number}; COMMIT;")

    def get(self, key: str) -> CachedAnswer | None:
        row = self._db.execute(
            "SELECT content, finish_reason, prompt_tokens, completion_tokens FROM responses WHERE key = ?",
            (key,),
        ).fetchone()
        return CachedAnswer(*row) if row else None

    def put(self, key: str, stage: str, identity: str, model: str, answer: CachedAnswer) -> None:
        """Store an answer; a write the disk refuses (full, read-only, I/O error) raises `DiskWriteError`."""
        try:
            self._insert(key, stage, identity, model, answer)
        except sqlite3.Error as exc:
            raise cache_write_error(self.path, exc) from None

    def _insert(self, key: str, stage: str, identity: str, model: str, answer: CachedAnswer) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ),
        )

    def count(self) -> int:
        (n,) = self._db.execute("SELECT COUNT(*) FROM responses").fetchone()
        return int(n)

    def close(self) -> None:
        self._db.close()
