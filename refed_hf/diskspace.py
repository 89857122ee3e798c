"""Room on the output disk: checked before the first paid call, and write failures named as such.

The estimate is deliberately on the generous side. A teacher answer averages about a quarter of
`max_tokens` (the limiter's own estimate, `COMPLETION_SHARE`), at `CHARS_PER_TOKEN` characters a
token: about `max_tokens` bytes. Per
record the build writes: 2.2 answers to the cache (a response and an improvement, plus a twentieth
of a reference's 4 feedback and instruction calls), 4 more in the work folder (each record is held
in a round file and in the records file) and at most 2 in the release's parquet (uncompressed bound).
On top comes a fixed allowance for SQLite's write-ahead log, the manifest, the card and the feedback
config.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import CacheFileError, DiskSpaceError, DiskWriteError, RefedError
from .teacher.cache import NewerCacheError
from .teacher.estimates import CHARS_PER_TOKEN, COMPLETION_SHARE

ANSWERS_WRITTEN_PER_RECORD = 2.2 + 4 + 2
FIXED_BYTES = 256 * 1024
# The errors of a disk that will refuse every further write as well.
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG}
DISK_FIX = "free space on that disk (or pass another --output) and rerun the same command"


def estimated_bytes(records: int, max_tokens: int) -> int:
    """What a build of `records` records writes under OUTPUT, at most, roughly."""
    answer_bytes = COMPLETION_SHARE * max_tokens * CHARS_PER_TOKEN
    return int(records * ANSWERS_WRITTEN_PER_RECORD * answer_bytes) + FIXED_BYTES


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def check_room(output: Path, records: int, max_tokens: int) -> None:
    """Raise `DiskSpaceError` when the output disk's free space cannot hold the build's estimate."""
    needed = estimated_bytes(records, max_tokens)
    free = shutil.disk_usage(output).free
    if free < needed:
        raise DiskSpaceError(
            f"the disk of {output} has {_human(free)} free but this build writes about {_human(needed)} "
            f"({records} records at --max-tokens {max_tokens}): free some space, pass another --output, "
            f"or build fewer records"
        )


# SQLite's result codes (`sqlite_errorname`, Python 3.11+) by what the user can do about them.
_DISK_CODES = ("SQLITE_FULL", "SQLITE_IOERR")
_READ_ONLY_CODES = ("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_CANTOPEN")
_DAMAGED_CODES = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
_DAMAGED_WORDS = ("malformed", "not a database")


def cache_write_error(path: Path, exc: sqlite3.Error) -> RefedError:
    """The build-stopping error for a cache SQLite could not open, read or write, with the fix for its cause."""
    code = getattr(exc, "sqlite_errorname", None) or ""
    if isinstance(exc, NewerCacheError):
        return CacheFileError(
            f"{path} was made by a newer version of refed-hf ({exc}): upgrade refed-hf, or pass another --output"
        )
    if code.startswith(_DAMAGED_CODES) or any(word in str(exc) for word in _DAMAGED_WORDS):
        return CacheFileError(
            f"{path} is damaged or is not a refed-hf cache ({exc}): move it away and rerun (a new cache is "
            "made; answers in the old file cannot be reused), or pass another --output"
        )
    if code.startswith(_READ_ONLY_CODES) or "readonly" in str(exc):
        return DiskWriteError(f"cannot write {path} ({exc}): make it writable, or pass another --output")
    if code.startswith(_DISK_CODES) or not code:
        return DiskWriteError(f"cannot store answers in {path} ({exc}): {DISK_FIX}")
    return DiskWriteError(f"cannot store answers in {path} ({exc}): move it away, or pass another --output")


@contextmanager
def disk_errors(output: Path) -> Iterator[None]:
    """Turn an OSError of a full, read-only or failing disk into one line naming the cause and the fix."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in DISK_ERRNOS:
            raise
        raise DiskWriteError(f"cannot write under {output} ({exc.strerror}): {DISK_FIX}") from None
