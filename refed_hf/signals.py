"""Ctrl-C and SIGTERM at any moment: one line, exit 130 / 143, nothing half-written left behind.

Three phases:
- before the build is *armed* (interpreter start, the imports of datasets, pyarrow and openai, which
  take a second or more), a signal ends the process at once: nothing has been paid or written yet;
- once armed, the first signal raises `Interrupted` (a `KeyboardInterrupt`) in the main thread, so
  every `finally` block runs: work folders are removed, the local teacher is stopped, the cache is
  closed; answers already stored stay stored;
- a second signal does not wait for that: it runs the registered clean-ups and exits.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import NoReturn

MESSAGE = "interrupted: every answer already received is in the cache; rerun the same command to finish"
BATCH_MESSAGE = (
    "interrupted: the batches already submitted keep running at the provider, and every answer "
    "already received is in the cache; rerun the same command to collect them and finish"
)
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """The build was interrupted by `signum`; the process should exit with `exit_code`."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


_cleanups: list[Callable[[], None]] = []
_armed = False
_received = 0
_told = False
_message = MESSAGE


def use_message(text: str) -> None:
    """The line to print when interrupted (with --batch, it says the batches go on at the provider)."""
    global _message
    _message = text


def tell() -> None:
    """Print the one line, once (a second signal arriving while it is printed does not repeat it)."""
    global _told
    if not _told:
        _told = True
        print(_message, file=sys.stderr, flush=True)


def exit_code(exc: KeyboardInterrupt) -> int:
    """130 for Ctrl-C, 143 for SIGTERM."""
    return exc.exit_code if isinstance(exc, Interrupted) else 128 + signal.SIGINT


def _abort(signum: int) -> NoReturn:
    for cleanup in reversed(_cleanups):
        try:
            cleanup()
        except BaseException:  # noqa: BLE001, S110 - exiting anyway; one failed clean-up must not stop the others
            pass
    if not _told:
        os.write(2, (_message + "\n").encode())
    os._exit(128 + signum)


def _handle(signum: int, frame: FrameType | None) -> None:
    global _received
    _received += 1
    if not _armed or _received > 1:
        _abort(signum)
    # The interruption may land inside the event loop of a `Dataset.map`: its tasks are then dropped
    # pending, and asyncio would log each one at shutdown. The one line below says all the user needs.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL + 1)
    raise Interrupted(signum)


def install() -> None:
    """Catch SIGINT and SIGTERM from now on (call it before the slow imports)."""
    for signum in SIGNALS:
        signal.signal(signum, _handle)


@contextmanager
def armed() -> Iterator[None]:
    """Within the block a first signal raises `Interrupted`; the previous handlers come back after it."""
    global _armed, _received, _told, _message
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only: a build run from another thread leaves them alone
        return
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    install()
    _armed, _received, _told, _message = True, 0, False, MESSAGE
    try:
        yield
    finally:
        _armed = False
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def cleanup_on_abort(cleanup: Callable[[], None]) -> Iterator[None]:
    """Run `cleanup` if a second signal ends the process inside the block (the block's own
    `finally` does it otherwise)."""
    _cleanups.append(cleanup)
    try:
        yield
    finally:
        _cleanups.remove(cleanup)


def ignore_while_exiting() -> None:
    """Ignore SIGINT and SIGTERM from now on, once the run's outcome is decided.

    At shutdown Python puts back the default action of every signal it had a handler for, so a second
    Ctrl-C arriving then would kill the process by the signal instead of letting it exit with its code;
    an ignored signal is left ignored.
    """
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
