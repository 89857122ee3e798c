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
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from .errors import OutputLockedError, RecipeError

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
        # Never through a link: the holder's details are written into this file, so a `.lock` planted
        # as a symlink would have them overwrite its target. Not O_TRUNC: the holder's details stay readable.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RecipeError(
                f"{path} is a symbolic link: remove it (a build makes its own lock file) and rerun"
            ) from None
        raise RecipeError(f"cannot open {path}: {exc.strerror} (pass another --output)") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RecipeError(f"{path} is not a plain file: remove it (a build makes its own lock file) and rerun")
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
