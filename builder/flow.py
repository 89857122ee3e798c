"""One reference's way through every stage, as the async batched function of a `Dataset.map`.

A reference's feedback, its instructions, their responses and their improvements are chained
per item, not per stage: a response's improvement starts the moment that response arrives. As
`datasets` runs the batches of an async map concurrently, calls of every stage and of many
references are in flight together, and the run's limiter alone decides how many: the teacher is
kept at its limit instead of waiting on the slowest call of each stage.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import datasets

from refed_hf.features import RECORD_FEATURES
from refed_hf.prompt_sets import PromptSet, feedback_columns, feedback_features
from refed_hf.schemas import FEATURES, Improvement
from refed_hf.teacher import Failed, Teacher

from . import stages
from .drops import NO_DROPS, DropLog
from .plan import split_quota
from .stages import Reference, ReferenceLevelFeedback


def flow_features(prompt_set: PromptSet) -> datasets.Features:
    """A reference's row after the flow: its feedback (in the prompt set's shape) and its records."""
    return datasets.Features(
        {
            **feedback_features(prompt_set),
            "feedback_ok": datasets.Value("bool"),
            "records": datasets.List(dict(RECORD_FEATURES)),
        }
    )


class StageTally:
    """Items into and out of each stage (a stage's failures by reason are in the teacher's ledger)."""

    def __init__(self) -> None:
        self.items_in: Counter[str] = Counter()
        self.items_out: Counter[str] = Counter()

    def enter(self, stage: str, n: int = 1) -> None:
        self.items_in[stage] += n

    def leave(self, stage: str, n: int = 1) -> None:
        self.items_out[stage] += n


class ReferenceFlow:
    """`Dataset.map(flow.run, batched=True)` over rows (reference_id, instruction, response, quota).

    `run` is a bound coroutine function, not `__call__`: datasets recognises async functions with
    `inspect.iscoroutinefunction`, which is false for a callable object.
    """

    def __init__(
        self,
        teacher: Teacher,
        tally: StageTally,
        prompt_set: PromptSet,
        references_in_flight: int = 64,
        drops: DropLog = NO_DROPS,
    ) -> None:
        self.teacher = teacher
        self.prompt_set = prompt_set
        self.features = flow_features(prompt_set)
        self.tally = tally
        self.drops = drops
        self.records_made = 0
        self.count_feedback = True
        self.references_in_flight = references_in_flight
        self._admission: asyncio.Semaphore | None = None
        self._admission_loop: asyncio.AbstractEventLoop | None = None

    def _admit(self) -> asyncio.Semaphore:
        # datasets starts up to a thousand batches at once; admitting only enough references to keep
        # the teacher busy bounds memory (pending requests and records) whatever the size of the build.
        loop = asyncio.get_running_loop()
        if self._admission is None or self._admission_loop is not loop:
            self._admission = asyncio.Semaphore(self.references_in_flight)
            self._admission_loop = loop
        return self._admission

    async def run(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        refs = [
            Reference(rid, instruction, response, system)
            for rid, instruction, response, system in zip(
                batch["reference_id"], batch["instruction"], batch["response"], batch["system"]
            )
        ]
        async with self._admit():
            results = await asyncio.gather(*(self._reference(ref, quota) for ref, quota in zip(refs, batch["quota"])))
        columns: dict[str, list[Any]] = {name: [] for name in self.features}
        for index, (ref, (rlf, records)) in enumerate(zip(refs, results)):
            columns["seed_split"].append(batch["seed_split"][index])
            columns["seed_row"].append(batch["seed_row"][index])
            columns["reference_id"].append(ref.reference_id)
            columns["instruction"].append(ref.instruction)
            columns["response"].append(ref.response)
            for name, value in feedback_columns(
                self.prompt_set, rlf.features if rlf else None, rlf.feedback if rlf else None
            ).items():
                columns[name].append(value)
            columns["feedback_ok"].append(rlf is not None)
            columns["system"].append(ref.system)
            columns["records"].append(records)
        return columns

    async def _reference(
        self, ref: Reference, quota: int
    ) -> tuple[ReferenceLevelFeedback | None, list[dict[str, Any]]]:
        if self.count_feedback:
            self.tally.enter(stages.FEEDBACK)
        rlf = await stages.reference_feedback(self.teacher, self.prompt_set, ref)
        if isinstance(rlf, Failed):
            self.drops.record_drop(stages.FEEDBACK, rlf.reason, {"reference_id": ref.reference_id})
            return None, []
        if self.count_feedback:
            self.tally.leave(stages.FEEDBACK)
        if quota <= 0:
            return rlf, []
        wanted = split_quota(quota)
        per_feature = await asyncio.gather(
            *(self._feature(ref, rlf, feature, wanted[feature]) for feature in FEATURES if wanted[feature] > 0)
        )
        records = [record for chunk in per_feature for record in chunk]
        self.records_made += len(records)
        return rlf, records

    async def _feature(
        self, ref: Reference, rlf: ReferenceLevelFeedback, feature: str, wanted: int
    ) -> list[dict[str, Any]]:
        self.tally.enter(stages.INSTRUCTIONS)
        instructions = await stages.new_instructions(self.teacher, self.prompt_set, ref, rlf, feature, self.drops)
        if isinstance(instructions, Failed):
            self.drops.record_drop(
                stages.INSTRUCTIONS, instructions.reason, {"reference_id": ref.reference_id, "feature": feature}
            )
            return []
        chosen = instructions[:wanted]
        self.tally.leave(stages.INSTRUCTIONS, len(chosen))
        made = await asyncio.gather(
            *(self._record(ref, rlf, feature, index, text) for index, text in enumerate(chosen))
        )
        return [record for record in made if record is not None]

    async def _record(
        self, ref: Reference, rlf: ReferenceLevelFeedback, feature: str, index: int, instruction: str
    ) -> dict[str, Any] | None:
        identity = f"{ref.reference_id}/{feature}/{index}"
        self.tally.enter(stages.RESPONSES)
        item = {"reference_id": ref.reference_id, "feature": feature, "instruction": instruction}
        response = await stages.respond(self.teacher, self.prompt_set, ref, identity, instruction)
        if isinstance(response, Failed):
            self.drops.record_drop(stages.RESPONSES, response.reason, item)
            return None
        self.tally.leave(stages.RESPONSES)
        self.tally.enter(stages.IMPROVEMENTS)
        improvement = await stages.improve(self.teacher, self.prompt_set, rlf.feedback, identity, instruction, response)
        if isinstance(improvement, Failed):  # incl. the answer checks' no_change / empty_analysis
            self.drops.record_drop(stages.IMPROVEMENTS, improvement.reason, {**item, "response": response})
            return None
        self.tally.leave(stages.IMPROVEMENTS)
        return _record(instruction, response, improvement, ref.reference_id, feature, self.teacher.model)


def _record(
    instruction: str, response: str, improvement: Improvement, reference_id: str, feature: str, model: str
) -> dict[str, Any]:
    return {
        "instruction": instruction,
        "response": response,
        "analysis": improvement.analysis.model_dump(),
        "implementation_strategy": improvement.implementation_strategy.model_dump(),
        "improved_response": improvement.improved_response,
        "reference_id": reference_id,
        "feature": feature,
        "teacher_model": model,
    }


def explode_records(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Batched map: the records nested in each reference's row, one row each."""
    records = [record for nested in batch["records"] for record in nested]
    return {name: [record[name] for record in records] for name in RECORD_FEATURES}
