"""The REFED method, top to bottom: seed → feedback → instructions → responses → improvements.

`synthesize` returns the two tables of a release as typed `datasets.Dataset`s whose rows live in
Arrow files under `workdir`, never in Python lists, so memory does not grow with `--size`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets

from refed_hf.features import FEEDBACK_FEATURES, RECORD_FEATURES
from refed_hf.teacher import Teacher

from .drops import NO_DROPS, DropLog
from .filters import FilterSettings, InstructionFilter, RecordScreen
from .flow import FLOW_FEATURES, ReferenceFlow, StageTally, explode_records
from .plan import quotas, reference_order
from .stages import STAGES


@dataclass
class Synthesis:
    records: datasets.Dataset
    feedback: datasets.Dataset
    tally: StageTally
    references_used: int
    rounds: int
    wanted: int
    screen: RecordScreen | None = None

    @property
    def shortfall(self) -> int:
        return self.wanted - len(self.records)

    @property
    def shortfall_reason(self) -> str | None:
        """Why there are fewer records than wanted. A build stopped by a fatal error writes no release,
        so a release that is short always ran out of usable references."""
        return "seed_exhausted" if self.shortfall > 0 else None

    def outcome(self) -> dict[str, int]:
        """The counts a release manifest records, as plain values."""
        return {
            "records": len(self.records),
            "wanted": self.wanted,
            "shortfall": self.shortfall,
            "feedback_rows": len(self.feedback),
            "references_used": self.references_used,
            "rounds": self.rounds,
        }

    def stage_items(self) -> dict[str, tuple[int, int]]:
        """Items into and out of each stage, in the method's order."""
        return {stage: (self.tally.items_in[stage], self.tally.items_out[stage]) for stage in STAGES}


# A reference row carries up to 20 records: write and explode them a few references at a time,
# so the buffers stay small whatever the size of the build (datasets' default is 1000 rows).
REFERENCES_PER_WRITE = 32


def _with_quotas(refs: datasets.Dataset, planned: list[int]) -> datasets.Dataset:
    quota = planned + [0] * (len(refs) - len(planned))
    return refs.add_column("quota", quota, feature=datasets.Value("int64"))


def _run_round(refs: datasets.Dataset, flow: ReferenceFlow, workdir: Path, round_no: int) -> datasets.Dataset:
    try:
        return _map_round(refs, flow, workdir, round_no)
    finally:
        flow.teacher.close_connections()


def _map_round(refs: datasets.Dataset, flow: ReferenceFlow, workdir: Path, round_no: int) -> datasets.Dataset:
    return refs.map(
        flow.run,
        batched=True,
        batch_size=1,
        writer_batch_size=REFERENCES_PER_WRITE,
        features=FLOW_FEATURES,
        remove_columns=["quota"],
        cache_file_name=str(workdir / f"round-{round_no}.arrow"),
        load_from_cache_file=False,
        new_fingerprint=f"refed-round-{round_no}",
        desc=f"References (round {round_no + 1})",
    )


def _accepted(flowed: datasets.Dataset, screen: RecordScreen, workdir: Path, round_no: int) -> datasets.Dataset:
    """A round's records, one row each, that pass the filters (in the round's deterministic order)."""
    return flowed.map(
        lambda batch: screen.keep(explode_records(batch)),
        batched=True,
        batch_size=REFERENCES_PER_WRITE,
        remove_columns=flowed.column_names,
        features=RECORD_FEATURES,
        cache_file_name=str(workdir / f"records-{round_no}.arrow"),
        load_from_cache_file=False,
        new_fingerprint=f"refed-records-{round_no}",
        desc="Screening records",
    )


def synthesize(
    seed: datasets.Dataset,
    teacher: Teacher,
    size: int,
    random_seed: int,
    workdir: Path,
    filters: FilterSettings,
    drops: DropLog = NO_DROPS,
    instruction_filters: Sequence[InstructionFilter] = (),
) -> Synthesis:
    """Exactly `size` records (fewer only when the seed runs out), and every reference's feedback."""
    workdir.mkdir(parents=True, exist_ok=True)
    ordered = seed.select(reference_order(list(seed["reference_id"]), random_seed))
    screen = RecordScreen(
        filters, seed["instruction"] if filters.seed_leakage else None, drops, instruction_filters=instruction_filters
    )
    tally = StageTally()
    # Each reference in flight offers about ten calls at once: as many references as calls keeps
    # the teacher at its limit with room to spare.
    flow = ReferenceFlow(teacher, tally, references_in_flight=max(16, teacher.limiter.max_concurrency), drops=drops)

    # Round 1: every reference gets its feedback; the first ones in the drawn order also give records.
    planned = quotas(size, len(ordered))
    rounds = [_run_round(_with_quotas(ordered, planned), flow, workdir, 0)]
    accepted = [_accepted(rounds[0], screen, workdir, 0)]
    used = len(planned)

    # Failed and filtered items leave a shortfall: draw further references (with feedback) until it is made up.
    feedback_ok = list(rounds[0]["feedback_ok"])
    spare = [i for i in range(used, len(ordered)) if feedback_ok[i]]
    flow.count_feedback = False  # their feedback is counted once, in round 1, and comes from the cache
    while screen.kept < size and spare:
        planned = quotas(size - screen.kept, len(spare))
        picked, spare = spare[: len(planned)], spare[len(planned) :]
        rounds.append(_run_round(_with_quotas(ordered.select(picked), planned), flow, workdir, len(rounds)))
        accepted.append(_accepted(rounds[-1], screen, workdir, len(rounds) - 1))
        used += len(planned)

    records = datasets.concatenate_datasets(accepted)
    feedback = (
        rounds[0]
        .filter(
            lambda ok: ok,
            input_columns="feedback_ok",
            cache_file_name=str(workdir / "feedback-kept.arrow"),
            load_from_cache_file=False,
            new_fingerprint="refed-feedback-kept",
        )
        .select_columns(list(FEEDBACK_FEATURES))
    )
    return Synthesis(records, feedback, tally, used, len(rounds), size, screen)
