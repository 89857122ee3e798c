"""One progress display for a build: records accepted of `--size`, calls, drops, cost so far and an ETA.

Why one line of our own: `datasets` would otherwise print its internals (table flattening, arrow writes)
as bars of their own, which say nothing about the build. On a terminal the line is redrawn in place
(tqdm); without one (CI, a log file) a plain line is printed every few seconds instead, as redrawing
would fill the log with carriage returns.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

from .builder.refill import RefillProgress
from .teacher import Teacher
from .teacher.prices import Pricing


class ProgressLine:
    """Called by the synthesis with its `RefillProgress`; reads the teacher's own counts beside it."""

    def __init__(
        self,
        teacher: Teacher,
        pricing: Pricing,
        wanted: int,
        stream: TextIO | None = None,
        plain_every: float = 5.0,
    ) -> None:
        self.teacher = teacher
        self.pricing = pricing
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.plain_every = plain_every
        self.started = time.monotonic()
        self._last = 0.0
        self._bar = (
            tqdm(total=wanted, unit="rec", file=self.stream, dynamic_ncols=True, desc="records", leave=True)
            if self.live
            else None
        )

    def _cost(self) -> str:
        cost = self.pricing.cost({stage: counts.usage() for stage, counts in self.teacher.ledger.stages.items()})
        return "cost n/a" if cost is None else f"${cost:.4f}"

    def _facts(self, p: RefillProgress) -> str:
        total = self.teacher.ledger.total()
        return (
            f"calls {total.answers} done + {total.cache_hits} cached, {self.teacher.limiter.in_flight} in flight; "
            f"{p.dropped} dropped; {p.references_opened} references; {self._cost()}"
        )

    def __call__(self, p: RefillProgress) -> None:
        now = time.monotonic()
        if self._bar is not None:
            if now - self._last < 0.2 and p.accepted < p.wanted:
                return
            self._last = now
            self._bar.n = p.accepted
            self._bar.set_postfix_str(self._facts(p), refresh=False)
            self._bar.refresh()
            return
        if now - self._last < self.plain_every and p.accepted < p.wanted:
            return
        self._last = now
        elapsed = now - self.started
        eta = f"{elapsed / p.accepted * (p.wanted - p.accepted):.0f} s" if p.accepted else "?"
        print(
            f"records {p.accepted}/{p.wanted} ({elapsed:.0f} s, ETA {eta}); {self._facts(p)}",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
