"""The sample-level feedback baseline the paper compares against (self-refine): each kept record's
own response gets feedback, with the same criteria as the reference-level response feedback, and is
then improved with the same improvement prompt. Only the source of the feedback differs from the full
method, so config `sft-sample-feedback` isolates what reference-level feedback adds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from refed_hf.prompt_sets import PromptSet
from refed_hf.teacher import Failed, Teacher

from . import stages
from .record_pass import run_record_pass

SAMPLE_FEEDBACK = "sample_feedback"
SAMPLE_IMPROVEMENTS = "sample_improvements"
SAMPLE_STAGES = (SAMPLE_FEEDBACK, SAMPLE_IMPROVEMENTS)
# What the pass keeps of a record: enough to make its conversation, with the sample-level improvement.
SAMPLE_FEATURES = datasets.Features(
    {name: datasets.Value("string") for name in ("reference_id", "feature", "instruction", "improved_response")}
)


def sample_identity(record: dict[str, Any]) -> str:
    """A record's name in the cache: its reference, feature and instruction, not its row number, so the
    same record finds its answers whatever order or round it came in."""
    digest = hashlib.sha256(record["instruction"].encode()).hexdigest()[:16]
    return f"{record['reference_id']}/{record['feature']}/sample/{digest}"


@dataclass
class SampleTally:
    """Records into and out of each stage of the pass."""

    items_in: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SAMPLE_STAGES, 0))
    items_out: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SAMPLE_STAGES, 0))

    def stage_items(self) -> dict[str, tuple[int, int]]:
        return {stage: (self.items_in[stage], self.items_out[stage]) for stage in SAMPLE_STAGES}


def sample_stage(teacher: Teacher, ps: PromptSet, tally: SampleTally) -> Any:
    """The pass's stage: two calls per record, feedback on its response, then the improvement."""

    async def one(record: dict[str, Any]) -> dict[str, Any] | None:
        identity = sample_identity(record)
        tally.items_in[SAMPLE_FEEDBACK] += 1
        feedback = await teacher.ask(
            SAMPLE_FEEDBACK,
            f"{identity}/feedback",
            ps.feedback_messages(record["instruction"], record["response"]),
            ps.feedback_schema,
        )
        if isinstance(feedback, Failed):
            return None
        tally.items_out[SAMPLE_FEEDBACK] += 1
        tally.items_in[SAMPLE_IMPROVEMENTS] += 1
        improvement = await stages.improve(
            teacher,
            ps,
            feedback.value,
            identity,
            record["instruction"],
            record["response"],
            stage=SAMPLE_IMPROVEMENTS,
        )
        if isinstance(improvement, Failed):
            return None
        tally.items_out[SAMPLE_IMPROVEMENTS] += 1
        return {
            "reference_id": record["reference_id"],
            "feature": record["feature"],
            "instruction": record["instruction"],
            "improved_response": improvement.improved_response,
        }

    return one


def sample_feedback_pass(
    records: datasets.Dataset, teacher: Teacher, ps: PromptSet, workdir: Path
) -> tuple[datasets.Dataset, SampleTally]:
    """Every record improved with feedback on its own response (records whose calls failed left out)."""
    tally = SampleTally()
    improved = run_record_pass(
        records, sample_stage(teacher, ps, tally), SAMPLE_FEATURES, teacher, workdir, SAMPLE_FEEDBACK
    )
    return improved, tally
