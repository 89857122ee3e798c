"""Timed-out calls: few retries, each with more time, and a word when the timeout looks too short.

A provider finishes (and bills) the work of a request the client gave up on, so retrying a timeout
as freely as a 500 multiplies the bill: a timed-out call is retried at most `max_retries` times,
each time with its timeout doubled. The latencies of answered calls are sampled to tell the user
when `--request-timeout` is close to what answers really take.
"""

from __future__ import annotations

import random

P95_SHARE_WARNING = 0.8  # p95 latency above this share of the timeout: the timeout looks too short
_SAMPLES = 4096  # a reservoir: memory stays flat whatever the size of the build


class TimeoutPolicy:
    def __init__(self, base: float | None, max_retries: int) -> None:
        self.base = base
        self.max_retries = max_retries
        self.count = 0  # timeouts seen this run
        self._latencies: list[float] = []
        self._seen = 0
        self._rng = random.Random(0)

    def timeout(self, timed_out_before: int) -> float | None:
        """Seconds for an attempt after `timed_out_before` timeouts of the same call (None: the client's)."""
        return None if self.base is None else self.base * 2**timed_out_before

    def may_retry(self, timed_out: int) -> bool:
        return timed_out <= self.max_retries

    def record(self, seconds: float) -> None:
        self._seen += 1
        if len(self._latencies) < _SAMPLES:
            self._latencies.append(seconds)
        else:
            slot = self._rng.randrange(self._seen)
            if slot < _SAMPLES:
                self._latencies[slot] = seconds

    def p95(self) -> float | None:
        if not self._latencies:
            return None
        ordered = sorted(self._latencies)
        return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]

    def advice(self) -> str | None:
        """A sentence for the summary when answers take most of the timeout, else None."""
        p95 = self.p95()
        if self.base is None or p95 is None or p95 <= P95_SHARE_WARNING * self.base:
            return None
        return (
            f"--request-timeout {self.base:g} s looks too short: 95% of answers took up to {p95:.1f} s "
            f"(over {P95_SHARE_WARNING:.0%} of it); raise it to at least {2 * p95:.0f} s"
        )

    def report(self) -> dict[str, float | int | str | None]:
        p95 = self.p95()
        return {
            "request_timeout_s": self.base,
            "max_timeout_retries": self.max_retries,
            "timeouts": self.count,
            "latency_p95_s": None if p95 is None else round(p95, 3),
            "advice": self.advice(),
        }
