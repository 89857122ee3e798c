"""How a command's process ends once its outcome is decided."""

from __future__ import annotations

import gc
import sys
from typing import NoReturn

from . import signals


def exit_with(code: int) -> NoReturn:
    """Exit with `code`: no signal changes the outcome from here, and the interpreter's teardown is short.

    With datasets, pyarrow, matplotlib and openai loaded, Python's shutdown spends about half a second
    in garbage collection over objects that die with the process anyway. Frozen objects are skipped by
    that collection; files, the cache and the release were closed before this point, and objects are
    still released by reference counting.
    """
    signals.ignore_while_exiting()
    gc.freeze()
    sys.exit(code)
