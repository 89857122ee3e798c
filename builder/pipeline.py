"""The REFED method, top to bottom: seed → feedback → instructions → responses → improvements.

`synthesize` returns the two tables of a release as typed `datasets.Dataset`s. Records are written to
an Arrow file under `workdir` as the ordered pass accepts them, never held in a Python list, so memory
does not grow with `--size`. How items flow and when they start is `refill.Refill`'s business.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import datasets
from datasets.arrow_writer import ArrowWriter

from refed_hf.diskspace import DISK_FIX
from refed_hf.errors import DiskWriteError
from refed_hf.features import RECORD_FEATURES
from refed_hf.prompt_sets import DEFAULT_PROMPT_SET, PromptSet, feedback_features, prompt_set_named
from refed_hf.teacher import Failed, Teacher

from . import stages
from .drops import NO_DROPS, DropLog
from .filter_counts import FilterCounts
from .filters import FilterSettings, InstructionFilter
from .flow import OpenedReference, StageTally, feedback_row
from .instruction_filters import instruction_filters as screens_for
from .plan import reference_order
from .refill import Refill, RefillProgress
from .stages import STAGES, Reference

FeedbackScope = Literal["used", "all"]


@dataclass
class Synthesis:
    records: datasets.Dataset
    feedback: datasets.Dataset
    tally: StageTally
    references_used: int
    wanted: int
    counts: FilterCounts
    feedback_scope: FeedbackScope = "used"
    speculative_calls: int = 0
    first_record_s: float | None = None

    @property
    def shortfall(self) -> int:
        return self.wanted - len(self.records)

    @property
    def shortfall_reason(self) -> str | None:
        """Why there are fewer records than wanted. A build stopped by a fatal error writes no release,
        so a release that is short always ran out of usable references."""
        return "seed_exhausted" if self.shortfall > 0 else None

    def outcome(self) -> dict[str, Any]:
        """The counts a release manifest records, as plain values."""
        return {
            "records": len(self.records),
            "wanted": self.wanted,
            "shortfall": self.shortfall,
            "feedback_rows": len(self.feedback),
            "references_used": self.references_used,
            "feedback_scope": self.feedback_scope,
        }

    def refill_part(self) -> dict[str, Any]:
        """How this run refilled (it depends on timing, unlike the release's records): the calls it
        started for items past the last one the release needed, bought ahead against drops."""
        return {"speculative_calls": self.speculative_calls, "first_record_s": self.first_record_s}

    def stage_items(self) -> dict[str, tuple[int, int]]:
        """Items into and out of each stage, in the method's order."""
        return {stage: (self.tally.items_in[stage], self.tally.items_out[stage]) for stage in STAGES}

    def stage_failures(self) -> dict[str, dict[str, int]]:
        """Items lost at each stage by reason, up to the last item the release needed."""
        return {stage: dict(self.tally.failed.get(stage, {})) for stage in STAGES}


def synthesize(
    seed: datasets.Dataset,
    teacher: Teacher,
    size: int,
    random_seed: int,
    workdir: Path,
    filters: FilterSettings,
    drops: DropLog = NO_DROPS,
    instruction_filters: Sequence[InstructionFilter] = (),
    feedback_scope: FeedbackScope = "used",
    on_progress: Callable[[RefillProgress], None] | None = None,
    prompt_set: PromptSet | None = None,
) -> Synthesis:
    """Exactly `size` records (fewer only when the seed runs out), and the feedback of the references
    they were drawn from (`feedback_scope="all"`: of every reference of the seed)."""
    prompt_set = prompt_set or prompt_set_named(DEFAULT_PROMPT_SET)
    workdir.mkdir(parents=True, exist_ok=True)
    ordered = seed.select(reference_order(list(seed["reference_id"]), random_seed))
    seed_instructions = list(seed["instruction"]) if filters.seed_leakage else []
    screens = screens_for(filters, seed_instructions, instruction_filters)
    counts = FilterCounts(filters.as_dict(), [f.name for f in instruction_filters])
    tally = StageTally()
    records_file = workdir / "records.arrow"
    try:
        with ArrowWriter(features=RECORD_FEATURES, path=str(records_file)) as writer:
            refill = Refill(
                ordered, teacher, size, filters, screens, counts, tally, writer.write, on_progress, drops, prompt_set
            )
            _run_loop(refill.run(), teacher)
            writer.finalize()
    except OSError as exc:  # the disk refused the records file: stop, as when the cache cannot store an answer
        raise DiskWriteError(f"cannot store records in {records_file} ({exc.strerror}): {DISK_FIX}") from None
    used = refill.opened[: refill.references_used]
    if feedback_scope == "all":
        used = _every_reference(ordered, teacher, prompt_set, tally, used)
    rows = [feedback_row(opened, prompt_set) for opened in used if opened.rlf is not None]
    feedback_types = feedback_features(prompt_set)
    columns = {name: [row[name] for row in rows] for name in feedback_types}
    feedback = datasets.Dataset.from_dict(columns, features=feedback_types)
    return Synthesis(
        datasets.Dataset.from_file(str(records_file)),
        feedback,
        tally,
        refill.references_used,
        size,
        counts,
        feedback_scope,
        refill.speculative_calls,
        refill.first_record_s,
    )


def _run_loop(work: Coroutine[Any, Any, None], teacher: Teacher) -> None:
    """Run `work` in a loop of its own, and close the teacher's HTTP client while that loop still exists."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(work)
    finally:
        teacher.close_connections()
        loop.close()


def _every_reference(
    ordered: datasets.Dataset,
    teacher: Teacher,
    prompt_set: PromptSet,
    tally: StageTally,
    used: list[OpenedReference],
) -> list[OpenedReference]:
    """Feedback for every reference of the seed, as the paper's collection step wrote it; the references
    already used keep theirs (from the cache)."""
    done = {opened.rank: opened for opened in used}
    rest = [rank for rank in range(len(ordered)) if rank not in done]

    async def write_all() -> None:
        gate = asyncio.Semaphore(max(16, teacher.limiter.max_concurrency))

        async def one(rank: int) -> None:
            row = ordered[rank]
            opened = OpenedReference(
                rank, Reference(row["reference_id"], row["instruction"], row["response"], row["system"]), row
            )
            async with gate:
                rlf = await stages.reference_feedback(teacher, prompt_set, opened.ref)
            tally.enter(stages.FEEDBACK)
            if isinstance(rlf, Failed):
                tally.fail(stages.FEEDBACK, rlf.reason)
            else:
                tally.leave(stages.FEEDBACK)
                opened.rlf = rlf
            done[rank] = opened

        await asyncio.gather(*(one(rank) for rank in rest))

    _run_loop(write_all(), teacher)
    return [done[rank] for rank in sorted(done)]
