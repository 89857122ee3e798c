"""A reference's way to its candidates, and a candidate's way to a record: the stages chained per item.

A reference opens with its feedback and, once that is in, asks for new instructions of both features
at once. Each new instruction that passes the instruction-level filters becomes a `Candidate`: its
response is asked for, screened the moment it arrives, then its improvement, screened in turn. No stage
waits for another item: `refill.Refill` decides which references to open and which candidates to start.

Both coroutines only fill in their outcome; what counts (tallies, drops, records) is decided later,
in the release's fixed order, by `refill.Refill`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from refed_hf.prompt_sets import PromptSet, feedback_columns
from refed_hf.schemas import FEATURES, Improvement
from refed_hf.teacher import Failed, Teacher

from . import stages
from .filter_counts import Dropped
from .filters import FilterSettings, improvement_drop, response_drop
from .stages import Reference, ReferenceLevelFeedback


class StageTally:
    """Items into, out of and lost at each stage, counted in the release's order (the teacher's ledger
    counts every call, including those bought ahead past the last item the release needed)."""

    def __init__(self) -> None:
        self.items_in: Counter[str] = Counter()
        self.items_out: Counter[str] = Counter()
        self.failed: dict[str, Counter[str]] = {}

    def fail(self, stage: str, reason: str) -> None:
        self.failed.setdefault(stage, Counter())[reason] += 1

    def enter(self, stage: str, n: int = 1) -> None:
        self.items_in[stage] += n

    def leave(self, stage: str, n: int = 1) -> None:
        self.items_out[stage] += n


@dataclass
class OpenedReference:
    """A reference drawn for records: its feedback, then its new instructions per feature."""

    rank: int  # its place in the drawn order
    ref: Reference
    seed_row: dict[str, Any]
    rlf: ReferenceLevelFeedback | None = None
    instructions: dict[str, list[str] | None] = field(default_factory=dict)  # None: the call failed
    calls_started: int = 0
    done: bool = False
    failure: str | None = None  # why its feedback failed
    # Instructions its answers dropped (repeats) and instruction calls that failed, handed to the tally
    # and the drop log when the ordered pass reaches it.
    repeats: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def record_drop(self, stage: str, reason: str, item: dict[str, Any]) -> None:
        self.repeats.append((stage, reason, dict(item)))

    async def run(self, teacher: Teacher, prompt_set: PromptSet, going_on: Callable[[], bool]) -> None:
        self.calls_started += 2
        rlf = await stages.reference_feedback(teacher, prompt_set, self.ref)
        if isinstance(rlf, Failed):
            self.failure = rlf.reason
            return
        self.rlf = rlf
        if not going_on():
            return
        self.calls_started += len(FEATURES)
        answers = await asyncio.gather(
            *(stages.new_instructions(teacher, prompt_set, self.ref, rlf, feature, self) for feature in FEATURES)
        )
        for feature, answer in zip(FEATURES, answers):
            if isinstance(answer, Failed):
                self.instructions[feature] = None
                self.record_drop(
                    stages.INSTRUCTIONS, answer.reason, {"reference_id": self.ref.reference_id, "feature": feature}
                )
            else:
                self.instructions[feature] = answer

    def candidates(self) -> list[tuple[int, str, str]]:
        """(index, feature, instruction) in the release's order: index first, so that a reference
        asked for few records gives both features alike."""
        per_feature = {feature: self.instructions.get(feature) or [] for feature in FEATURES}
        longest = max((len(texts) for texts in per_feature.values()), default=0)
        return [
            (index, feature, per_feature[feature][index])
            for index in range(longest)
            for feature in FEATURES
            if index < len(per_feature[feature])
        ]


@dataclass
class Candidate:
    """A new instruction that passed the instruction-level filters, on its way to a record."""

    opened: OpenedReference
    feature: str
    index: int
    instruction: str
    launched: bool = False
    done: bool = False
    response: str | None = None
    improvement: Improvement | None = None
    dropped: Dropped | None = None
    calls_started: int = 0
    failure: str | None = None  # why a call of its failed

    @property
    def identity(self) -> str:
        return f"{self.opened.ref.reference_id}/{self.feature}/{self.index}"

    @property
    def succeeded(self) -> bool:
        return self.done and self.improvement is not None and self.dropped is None

    async def run(
        self, teacher: Teacher, prompt_set: PromptSet, settings: FilterSettings, going_on: Callable[[], bool]
    ) -> None:
        ref, rlf = self.opened.ref, self.opened.rlf
        assert rlf is not None  # candidates come only from references with feedback
        self.calls_started += 1
        response = await stages.respond(teacher, prompt_set, ref, self.identity, self.instruction)
        if isinstance(response, Failed):
            self.failure = response.reason
            return
        self.response = response
        dropped = response_drop(settings, response)
        if dropped is not None:
            self.dropped = Dropped(stages.RESPONSES, *dropped)
            return
        if not going_on():
            return
        self.calls_started += 1
        improvement = await stages.improve(teacher, prompt_set, rlf.feedback, self.identity, self.instruction, response)
        if isinstance(improvement, Failed):  # incl. the answer checks' no_change / empty_analysis
            self.failure = improvement.reason
            return
        dropped = improvement_drop(settings, response, improvement.improved_response)
        if dropped is not None:
            self.dropped = Dropped(stages.IMPROVEMENTS, *dropped)
        self.improvement = improvement

    def item(self) -> dict[str, Any]:
        """The ids and texts of this item so far (for a dropped item's log)."""
        return {
            "reference_id": self.opened.ref.reference_id,
            "feature": self.feature,
            "index": self.index,
            "instruction": self.instruction,
            "response": self.response,
            "improved_response": self.improvement.improved_response if self.improvement else None,
        }

    def record(self, model: str) -> dict[str, Any]:
        assert self.response is not None and self.improvement is not None
        return {
            "instruction": self.instruction,
            "response": self.response,
            "analysis": self.improvement.analysis.model_dump(),
            "implementation_strategy": self.improvement.implementation_strategy.model_dump(),
            "improved_response": self.improvement.improved_response,
            "reference_id": self.opened.ref.reference_id,
            "feature": self.feature,
            "teacher_model": model,
        }


def feedback_row(opened: OpenedReference, prompt_set: PromptSet) -> dict[str, Any]:
    """A row of config `feedback` for a reference whose feedback was written, in the prompt set's shape."""
    rlf = opened.rlf
    assert rlf is not None
    row = opened.seed_row
    return {
        "seed_split": row["seed_split"],
        "seed_row": row["seed_row"],
        "reference_id": row["reference_id"],
        "instruction": row["instruction"],
        "response": row["response"],
        **feedback_columns(prompt_set, rlf.features, rlf.feedback),
        "system": row["system"],
    }
