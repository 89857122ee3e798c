"""Continuous refill: the teacher stays at its limit until exactly `size` records are accepted.

Why not rounds: a round ends when its slowest item does, and every drop made up in a new round drained
the pipeline again. Here, when an item is dropped or fails, the next candidate starts at once (the next
instruction of the pool, the next reference when the pool runs dry), and references are opened (their
feedback written) only as the records still missing need them.

Determinism: calls finish in any order, but nothing is decided in arrival order. References are screened
in the drawn order (reference, then index, then feature), and an ordered pass, the watermark, walks the
items in that order and stops at the `size`-th success: the release is the first `size` successes of
the fixed order, its counts (stages, filters, references used) are those of the items up to there, and
so the same recipe gives the same release whatever the concurrency, the timing, or a kill and resume
(every answer then comes from the cache). Candidates are started in that same order, so the first
`size` successes are always among those started.

A small speculative margin (candidates beyond the records still missing, as many as the failure rate
seen so far predicts, bounded) keeps the last records from waiting on a replacement's two round trips;
calls started for items past the watermark are reported as speculative, and cancelled when the build
has its records.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import datasets

from refed_hf.prompt_sets import DEFAULT_PROMPT_SET, PromptSet, prompt_set_named
from refed_hf.schemas import FEATURES
from refed_hf.teacher import Teacher

from . import stages
from .drops import NO_DROPS, DropLog
from .filter_counts import Dropped, FilterCounts
from .filters import FilterSettings
from .flow import Candidate, OpenedReference, StageTally
from .instruction_filters import Screens
from .plan import RECORDS_PER_REFERENCE
from .stages import Reference

# How long calls in flight may take to be answered (and stored) once the build has its records.
STOP_GRACE_S = 30.0
# Items counted as successes before any is resolved, in the success rate the look-ahead plans with.
PRIOR_WEIGHT = 4


@dataclass
class RefillProgress:
    """What the build has to show at any moment (the display adds the teacher's calls and cost)."""

    accepted: int
    wanted: int
    dropped: int
    references_opened: int
    candidates_in_flight: int


@dataclass
class _Marker:
    """A reference's place in the ordered pass (its feedback and instruction calls are tallied there)."""

    opened: OpenedReference


class Refill:
    def __init__(
        self,
        ordered: datasets.Dataset,
        teacher: Teacher,
        size: int,
        settings: FilterSettings,
        filters: Screens,
        counts: FilterCounts,
        tally: StageTally,
        write: Callable[[dict[str, Any]], None],
        on_progress: Callable[[RefillProgress], None] | None = None,
        dropped: DropLog = NO_DROPS,
        prompt_set: PromptSet | None = None,
    ) -> None:
        self.ordered = ordered
        self.teacher = teacher
        self.prompt_set = prompt_set or prompt_set_named(DEFAULT_PROMPT_SET)
        self.size = size
        self.settings = settings
        self.filters = filters
        self.drops = counts
        self.dropped = dropped  # the items themselves, kept for review
        self.tally = tally
        self.write = write
        self.on_progress = on_progress or (lambda progress: None)
        width = teacher.limiter.max_concurrency
        # Each started candidate has one call in flight at a time: twice the limit keeps the limiter's
        # queue full; references add two calls each. Both bounds keep memory flat whatever `size`.
        self.max_candidates = max(16, 2 * width)
        self.max_references = max(8, width)
        self.margin_cap = max(2, min(width // 4, size // 20))
        self.accepted = 0
        self.references_used = 0  # references the ordered pass has reached
        self.opened: list[OpenedReference] = []  # in drawn order; the used ones are a prefix
        self.speculative_calls = 0
        self._next_reference = 0
        self._screened_upto = 0  # opened[:n] screened
        self._ordered: deque[_Marker | Candidate] = deque()  # items the ordered pass has not reached yet
        self._pool: deque[Candidate] = deque()  # screened candidates not started yet, in order
        self._tasks: set[asyncio.Task[None]] = set()
        self._candidates_in_flight = 0
        self._references_in_flight = 0
        self._started = self._succeeded = self._resolved = 0
        self._queued_per_reference = (0, 0)  # (candidates queued, references screened with feedback)
        self._wake = asyncio.Event()
        self._error: BaseException | None = None
        self.closing = False
        self.first_record_s: float | None = None  # from the start of the run to the first record accepted
        self._began = 0.0

    # Estimates for how far to look ahead.

    def _success_rate(self) -> float:
        # Optimistic until shown otherwise, and not swung by the first few items: with a plain ratio,
        # two early failures read as "nothing succeeds" and every reference the look-ahead allows was
        # opened at once (on a slow local teacher, minutes of feedback calls no record needed).
        return (self._succeeded + PRIOR_WEIGHT) / (self._resolved + PRIOR_WEIGHT)

    def _yield_per_reference(self) -> float:
        queued, screened = self._queued_per_reference
        return queued / screened if screened else float(RECORDS_PER_REFERENCE)

    def _margin(self) -> int:
        failing = 1.0 - self._success_rate()
        return min(self.margin_cap, math.ceil(failing * self._candidates_in_flight))

    # The loop.

    async def run(self) -> None:
        self._began = time.monotonic()
        try:
            while True:
                self._screen()
                if self._pass() or self._error is not None:
                    break
                self._start_candidates()
                self._open_references()
                self.on_progress(self.progress())
                if not self._tasks:
                    self._screen()
                    self._pass()
                    if not self._tasks and not self._pool:
                        break  # the seed ran out
                    continue
                await self._wake.wait()
                self._wake.clear()
        finally:
            await self._stop()
        if self._error is not None:
            raise self._error
        self.on_progress(self.progress())

    def _going_on(self) -> bool:
        return not self.closing and self._error is None

    def progress(self) -> RefillProgress:
        return RefillProgress(
            self.accepted, self.size, self.drops.total(), len(self.opened), self._candidates_in_flight
        )

    def _spawn(self, coroutine: Any, on_done: Callable[[], None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            if not finished.cancelled():
                error = finished.exception()
                if error is not None and self._error is None:
                    self._error = error  # a fatal error (bad key, disk full): the build stops
            on_done()
            self._wake.set()

        task.add_done_callback(done)

    async def _stop(self) -> None:
        """Stop what is not needed any more: calls not sent yet are cancelled; calls in flight are
        answered and stored (they are paid for either way), then their item starts no further call.
        Count what was started past the watermark."""
        self.closing = True
        tasks = list(self._tasks)
        if tasks:
            self.teacher.limiter.cancel_waiting()
            _, late = await asyncio.wait(tasks, timeout=STOP_GRACE_S)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for item in self._ordered:
            if isinstance(item, Candidate):
                self.speculative_calls += item.calls_started
            else:
                self.speculative_calls += item.opened.calls_started
        self.speculative_calls += sum(opened.calls_started for opened in self.opened[self._screened_upto :])

    # References: opened in the drawn order, as the records still missing need them.

    def _open_references(self) -> None:
        while self._next_reference < len(self.ordered) and self._references_in_flight < self.max_references:
            rate = self._success_rate()
            promised = self._succeeded + rate * (self._candidates_in_flight + len(self._pool))
            coming = (len(self.opened) - self._screened_upto) * self._yield_per_reference() * rate
            missing = self.size + self._margin() - promised
            if coming >= missing:
                return  # the references opened already promise every record still missing
            # Beyond a bounded look-ahead, a reference opens only to fill calls the teacher would
            # otherwise leave idle (at the start, before any candidate exists); both keep memory flat.
            idle = not self._pool and self._calls_in_flight() < self.teacher.limiter.max_concurrency
            if coming >= min(missing, 4 * self.max_candidates) and not idle:
                return
            row = self.ordered[self._next_reference]
            ref = Reference(row["reference_id"], row["instruction"], row["response"], row["system"])
            opened = OpenedReference(self._next_reference, ref, row)
            self.opened.append(opened)
            self._next_reference += 1
            self._references_in_flight += 1

            def finished(opened: OpenedReference = opened) -> None:
                opened.done = True
                self._references_in_flight -= 1

            self._spawn(opened.run(self.teacher, self.prompt_set, self._going_on), finished)

    def _calls_in_flight(self) -> int:
        # A candidate has one call at a time; a reference two (its feedback's two calls, then the
        # instructions of its two features).
        return self._candidates_in_flight + 2 * self._references_in_flight

    def _screen(self) -> None:
        """Screen the instructions of opened references, in the drawn order, as soon as each has them."""
        while self._screened_upto < len(self.opened) and self.opened[self._screened_upto].done:
            opened = self.opened[self._screened_upto]
            self._screened_upto += 1
            self._ordered.append(_Marker(opened))
            if opened.rlf is None:
                continue
            queued = 0
            candidates = opened.candidates()
            self.filters.prepare([instruction for _, _, instruction in candidates])
            for index, feature, instruction in candidates:
                candidate = Candidate(opened, feature, index, instruction)
                reason = next(
                    ((f.name, why) for f in self.filters if (why := f.check(instruction, opened.ref)) is not None),
                    None,
                )
                if reason is not None:
                    candidate.dropped = Dropped(stages.INSTRUCTIONS, *reason)
                    candidate.done = True
                else:
                    self._pool.append(candidate)
                    queued += 1
                self._ordered.append(candidate)
            total, screened = self._queued_per_reference
            self._queued_per_reference = (total + queued, screened + 1)

    # Candidates: started in order while the records still missing (and a small margin) need them.

    def _start_candidates(self) -> None:
        while self._pool and self._candidates_in_flight < self.max_candidates:
            if self._succeeded + self._candidates_in_flight >= self.size + self._margin():
                return
            candidate = self._pool.popleft()
            candidate.launched = True
            self._candidates_in_flight += 1
            self._started += 1

            def finished(candidate: Candidate = candidate) -> None:
                candidate.done = True
                self._candidates_in_flight -= 1
                self._resolved += 1
                self._succeeded += candidate.succeeded

            self._spawn(candidate.run(self.teacher, self.prompt_set, self.settings, self._going_on), finished)

    # The ordered pass (the watermark).

    def _pass(self) -> bool:
        """Walk the decided items in order; True once `size` records are accepted."""
        while self._ordered and self.accepted < self.size:
            item = self._ordered[0]
            if isinstance(item, _Marker):
                self._reach_reference(item.opened)
            elif item.done:
                self._reach_candidate(item)
            else:
                return False
            self._ordered.popleft()
        return self.accepted >= self.size

    def _drop(self, stage: str, reason: str, item: dict[str, Any], dropped: Dropped | None = None) -> None:
        """The one place an item is dropped (a filter's verdict or a failed call), in the release's order."""
        if dropped is not None:
            self.drops.drop(dropped)
        else:
            self.tally.fail(stage, reason)
        self.dropped.record_drop(stage, reason, item)

    def _reach_reference(self, opened: OpenedReference) -> None:
        self.references_used += 1
        self.tally.enter(stages.FEEDBACK)
        if opened.rlf is None:
            self._drop(stages.FEEDBACK, opened.failure or "failed", {"reference_id": opened.ref.reference_id})
            return
        for stage, reason, item in opened.repeats:
            self._drop(stage, reason, item)
        self.tally.leave(stages.FEEDBACK)
        self.tally.enter(stages.INSTRUCTIONS, len(FEATURES))

    def _reach_candidate(self, candidate: Candidate) -> None:
        self.tally.leave(stages.INSTRUCTIONS)
        self.drops.judged(stages.INSTRUCTIONS)
        dropped = candidate.dropped
        if dropped is not None and dropped.stage == stages.INSTRUCTIONS:
            self._drop("filters", dropped.filter, candidate.item(), dropped)
            return
        if self.settings.dedup_threshold is not None:
            self.drops.index_size += 1  # it entered the near-duplicate index as it was screened
        self.tally.enter(stages.RESPONSES)
        if candidate.response is None:
            self._drop(stages.RESPONSES, candidate.failure or "failed", candidate.item())
            return
        self.tally.leave(stages.RESPONSES)
        self.drops.judged(stages.RESPONSES)
        if dropped is not None and dropped.stage == stages.RESPONSES:
            self._drop("filters", dropped.filter, candidate.item(), dropped)
            return
        self.tally.enter(stages.IMPROVEMENTS)
        if candidate.improvement is None:
            self._drop(stages.IMPROVEMENTS, candidate.failure or "failed", candidate.item())
            return
        self.tally.leave(stages.IMPROVEMENTS)
        self.drops.judged(stages.IMPROVEMENTS)
        if dropped is not None:
            self._drop("filters", dropped.filter, candidate.item(), dropped)
            return
        self.accepted += 1
        if self.first_record_s is None:
            self.first_record_s = round(time.monotonic() - self._began, 3)
        self.drops.kept += 1
        self.write(candidate.record(self.teacher.model))
