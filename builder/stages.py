"""The stages of the method, each a prompt builder and a parser around `Teacher.ask`.

Stage functions take plain values and return plain values or a `Failed`; they know nothing of
datasets or the command line. `builder.flow` chains them per reference. The wording and the schemas
of the answers come from the `PromptSet` passed in, so no stage branches on which set it is.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from refed_hf import prompts
from refed_hf.prompt_sets import PromptSet
from refed_hf.schemas import GeneratedInstructions, GeneratedResponse, Improvement
from refed_hf.teacher import Failed, Teacher

from .answer_checks import distinct_instructions, improvement_check
from .drops import NO_DROPS
from .plan import INSTRUCTIONS_PER_FEATURE

FEEDBACK = "feedback"
INSTRUCTIONS = "instructions"
RESPONSES = "responses"
IMPROVEMENTS = "improvements"
STAGES = (FEEDBACK, INSTRUCTIONS, RESPONSES, IMPROVEMENTS)


class DropSink(Protocol):
    """Where a dropped item goes (`drops.DropLog`, or a reference holding its drops for the ordered pass)."""

    def record_drop(self, stage: str, reason: str, item: Any) -> None: ...


@dataclass(frozen=True)
class Reference:
    reference_id: str
    instruction: str
    response: str
    system: str = ""

    @property
    def shown_instruction(self) -> str:
        """The instruction as the teacher reads it: with the system turn that came before it, if any."""
        return prompts.with_system_turn(self.instruction, self.system)


@dataclass(frozen=True)
class ReferenceLevelFeedback:
    features: BaseModel  # the prompt set's `features_schema`
    feedback: BaseModel  # the prompt set's `feedback_schema`


async def reference_feedback(teacher: Teacher, ps: PromptSet, ref: Reference) -> ReferenceLevelFeedback | Failed:
    """Subject areas and skills of the instruction, and feedback on the response: two calls at once."""
    features, feedback = await asyncio.gather(
        teacher.ask(
            FEEDBACK,
            f"{ref.reference_id}/features",
            ps.features_messages(ref.shown_instruction, ref.response),
            ps.features_schema,
        ),
        teacher.ask(
            FEEDBACK,
            f"{ref.reference_id}/response-feedback",
            ps.feedback_messages(ref.shown_instruction, ref.response),
            ps.feedback_schema,
        ),
    )
    if isinstance(features, Failed):
        return features
    if isinstance(feedback, Failed):
        return feedback
    return ReferenceLevelFeedback(features.value, feedback.value)


async def new_instructions(
    teacher: Teacher,
    ps: PromptSet,
    ref: Reference,
    rlf: ReferenceLevelFeedback,
    feature: str,
    drops: DropSink = NO_DROPS,
) -> list[str] | Failed:
    """Ten new instructions in the spirit of one feature (subject or skill) of the reference.

    Always ten are asked for, whatever the quota, so the request (and its cache key) does not
    depend on `--size`.
    """
    answer = await teacher.ask(
        INSTRUCTIONS,
        f"{ref.reference_id}/{feature}/instructions",
        ps.instructions_messages(ref.shown_instruction, feature, rlf.features, INSTRUCTIONS_PER_FEATURE),
        GeneratedInstructions,
    )
    if isinstance(answer, Failed):
        return answer

    def on_drop(reason: str, text: str) -> None:
        drops.record_drop(
            INSTRUCTIONS, reason, {"reference_id": ref.reference_id, "feature": feature, "instruction": text}
        )

    unique, _ = distinct_instructions(answer.value.instructions, ref.instruction, on_drop)
    return unique[:INSTRUCTIONS_PER_FEATURE]


async def respond(teacher: Teacher, ps: PromptSet, ref: Reference, identity: str, instruction: str) -> str | Failed:
    """A response to a new instruction, with the reference pair shown as an example."""
    answer = await teacher.ask(
        RESPONSES,
        f"{identity}/response",
        ps.response_messages(ref.shown_instruction, ref.response, instruction),
        GeneratedResponse,
    )
    return answer if isinstance(answer, Failed) else answer.value.response


async def improve(
    teacher: Teacher,
    ps: PromptSet,
    feedback: BaseModel,
    identity: str,
    instruction: str,
    response: str,
    stage: str = IMPROVEMENTS,
) -> Improvement | Failed:
    """The response improved with the parts of `feedback` (the reference's, unless a pass brings its
    own) that apply to it."""
    answer = await teacher.ask(
        stage,
        f"{identity}/improvement",
        ps.improvement_messages(instruction, response, feedback),
        Improvement,
        check=improvement_check(response),
    )
    return answer if isinstance(answer, Failed) else answer.value
