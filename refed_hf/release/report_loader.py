"""The quality report, made ready in the background while a build waits on its teacher.

Importing matplotlib and drawing its first figure (fonts, backend) takes about a second on two
cores. A build spends tens of seconds waiting for answers with its CPU mostly idle, so it does that
work then, instead of after its last answer, where every second is added to the wall time.
"""

from __future__ import annotations

import threading
from pathlib import Path

from .manifest import Manifest


class ReportLoader:
    """`start()` loads the report's code and draws a throwaway figure in a thread; `add_to_release`
    waits for that thread, so the figures are never drawn from two threads at once."""

    def __init__(self) -> None:
        # Not a daemon: the interpreter waits for it (a second at most) before it exits. A daemon thread
        # still inside matplotlib's C++ code at exit (a build interrupted in its first second) is
        # ended by pthread_exit, which C++ turns into `terminate called` and SIGABRT.
        self._thread = threading.Thread(target=self._load, name="refed-report-warm-up", daemon=False)

    def start(self) -> ReportLoader:
        self._thread.start()
        return self

    @staticmethod
    def _load() -> None:
        try:
            from . import figures  # noqa: PLC0415 - the point is to import it here, in this thread

            figures.warm_up()
        except Exception:  # noqa: BLE001 - only a head start: the report itself raises whatever this hit
            return

    def add_to_release(self, staging: Path, manifest: Manifest) -> Manifest:
        self._thread.join()
        from .report import add_to_release  # noqa: PLC0415

        return add_to_release(staging, manifest)
