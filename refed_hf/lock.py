"""One build per output directory: an exclusive `flock` on OUTPUT/.lock, held for the whole run.

Two builds on one directory would share its cache, work folders and release folder and pay for the
same answers twice; the second one stops at once instead, naming the build that holds the lock.
The lock is the kernel's (released when the holding process ends, even by `kill -9`), so a stale
`.lock` file left behind never blocks a later build; the file only carries the holder's pid and
start time for that message.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from .errors import OutputLockedError

LOCK_FILE = ".lock"


def _holder(fd: int) -> str:
    # The holder writes its pid right after taking the lock: give it a moment if we read too early.
    for _ in range(20):
        raw = os.pread(fd, 4096, 0)
        if raw.strip():
            try:
                info = json.loads(raw)
                return f"pid {info['pid']}, started {info['started']}"
            except (ValueError, KeyError):
                break
        time.sleep(0.025)
    return "pid unknown"


@contextmanager
def output_lock(output: Path) -> Iterator[None]:
    """Hold OUTPUT/.lock for the block, or raise `OutputLockedError` at once if another build holds it."""
    path = output / LOCK_FILE
    try:
        # Not O_TRUNC: the holder's details stay readable. O_NOFOLLOW: a `.lock` planted as a symlink
        # must not make the build write its record into the file it points at.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise OutputLockedError(
            f"{path} is a symbolic link, which a build never follows: remove it, or pass another --output"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            raise OutputLockedError(
                f"another build is running in {output} ({_holder(fd)}): wait for it to finish or pass another --output"
            ) from None
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "started": started}).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
