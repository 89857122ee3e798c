"""How many teacher calls may be in flight, and how fast they may start.

One limiter serves the whole run, so every stage draws from the same budget (`--concurrency`).
It adapts like TCP congestion control: it starts below the ceiling and doubles while calls succeed
(slow start); a 429 drops the window to what the server evidently accepts, and it then probes
upwards one call at a time. Optional provider-style limits (`--max-rpm`, `--max-tpm`) pace call
starts with token buckets.

Futures belong to the event loop that made them, and `datasets` runs each `Dataset.map` in a loop
of its own, so the queue of waiters is rebuilt whenever the loop changes; the learned window
carries over.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager


class TokenBucket:
    """Allows at most `per_minute` units in any 60 seconds, in a burst of one second's worth at most.

    A full bucket plus sixty seconds of refill is 61 seconds' worth, so the rate is per_minute/61.5:
    the spare half second absorbs calls that start a little late and arrive bunched.
    """

    def __init__(self, per_minute: float) -> None:
        self.rate = per_minute / 61.5
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self.stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def delay_for(self, units: float) -> float:
        """Seconds until `units` are available (0 when they are now)."""
        self._refill()
        missing = min(units, self.capacity) - self.level
        return 0.0 if missing <= 0 else missing / self.rate

    def take(self, units: float) -> None:
        self._refill()
        self.level -= units

    def give_back(self, units: float) -> None:
        self.level = min(self.capacity, self.level + units)


class CallLimiter:
    """The run's global gate for teacher calls."""

    def __init__(
        self,
        max_concurrency: int,
        max_rpm: int | None,
        max_tpm: int | None,
        initial_window: int = 64,
    ) -> None:
        self.max_concurrency = max_concurrency
        self.window = float(min(max_concurrency, initial_window))
        self.slow_start = True
        self.in_flight = 0
        self._rpm = TokenBucket(max_rpm) if max_rpm else None
        self._tpm = TokenBucket(max_tpm) if max_tpm else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._pacing = asyncio.Lock()
        self._successes_since_growth = 0

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._waiters = deque()
            self._pacing = asyncio.Lock()
            self.in_flight = 0
        return loop

    def _wake(self) -> None:
        # Wake waiters one by one, first come first served: waking them all on every release
        # would cost CPU proportional to the queue (thousands of calls wait in a large build).
        while self._waiters and self.in_flight < int(self.window):
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)

    async def _acquire(self) -> None:
        loop = self._bind()
        if not self._waiters and self.in_flight < int(self.window):
            self.in_flight += 1
            return
        waiter = loop.create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # the place was handed over just as the call was cancelled
            raise

    def cancel_waiting(self) -> int:
        """Cancel the calls still waiting for a place (none of them was sent); calls in flight go on."""
        cancelled = 0
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.cancel()
                cancelled += 1
        return cancelled

    def _release(self) -> None:
        self.in_flight -= 1
        self._wake()

    @asynccontextmanager
    async def slot(self, estimated_tokens: Callable[[], int] | None = None) -> AsyncIterator[None]:
        """Hold one in-flight place (and the rate budget) for the duration of a call.

        `estimated_tokens` is asked for the call's tokens once it is the next to start.
        """
        await self._acquire()
        try:
            await self._pace(estimated_tokens)
            yield
        finally:
            self._release()

    async def _pace(self, estimated_tokens: Callable[[], int] | None) -> None:
        if not (self._rpm or self._tpm):
            return
        # One caller at a time waits for the buckets, in arrival order; the others wait on the lock,
        # so a refill wakes one caller, and budget given back by a finished call is used by the next.
        async with self._pacing:
            tokens = estimated_tokens() if estimated_tokens else 0
            while True:
                delay = max(
                    self._rpm.delay_for(1) if self._rpm else 0.0,
                    self._tpm.delay_for(tokens) if self._tpm else 0.0,
                )
                if delay <= 0:
                    break
                await asyncio.sleep(delay)
            if self._rpm:
                self._rpm.take(1)
            if self._tpm:
                self._tpm.take(tokens)

    def settle_tokens(self, estimated: int, actual: int) -> None:
        """Correct the token budget once the real usage of a call is known."""
        if self._tpm and actual > estimated:
            self._tpm.take(actual - estimated)
        elif self._tpm and actual < estimated:
            self._tpm.give_back(estimated - actual)

    def on_success(self) -> None:
        self._successes_since_growth += 1
        if self._successes_since_growth < max(1, int(self.window)):
            return
        self._successes_since_growth = 0
        grown = self.window * 2 if self.slow_start else self.window + 1
        self.window = float(min(self.max_concurrency, grown))
        self._wake()

    def on_rate_limited(self) -> None:
        """A 429: the server accepts fewer calls than are in flight now.

        The rejected calls of one burst come back one by one, each lowering the in-flight count, so
        following it down lands the window on what the server really accepts.
        """
        self.slow_start = False
        self._successes_since_growth = 0
        self.window = max(1.0, min(self.window, float(self.in_flight - 1)))
