"""The one source of truth for shapes: what the teacher must answer, and what a release holds.

The teacher's JSON schemas (`teacher_schema`), the `datasets.Features` of both configs
(`refed_hf.features`) and the card's schema tables are all derived from these models.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _some(values: list[str]) -> list[str]:
    kept = [value for value in values if value.strip()]
    if not kept:
        raise ValueError("must list at least one non-empty item")
    return kept


# --- What the teacher answers, one model per kind of call -------------------------------------


class ReferenceFeatures(_Strict):
    """The subject areas and the skills a reference instruction exercises."""

    subject_areas: list[str] = Field(description="Subject areas or domains the instruction belongs to.")
    relevant_skills: list[str] = Field(description="Skills a good answer to the instruction needs.")

    _check = field_validator("subject_areas", "relevant_skills")(_some)


class ResponseFeedback(_Strict):
    """Reference-level feedback: what makes the reference response good and how it could be better."""

    strengths: list[str] = Field(description="What makes the response good.")
    improvements: list[str] = Field(
        description="How it could be better: accuracy, depth, clarity, structure, tone, fit to the instruction."
    )

    _check = field_validator("strengths", "improvements")(_some)


class InstructionDescription(_Strict):
    """The paper's instruction analysis: prose descriptions of the subject areas and of the skills."""

    subject_areas: str = Field(description="A description of the subject areas and domains the instruction covers.")
    relevant_skills: str = Field(description="A description of the skills a good answer to the instruction needs.")

    _check = field_validator("subject_areas", "relevant_skills")(_not_blank)


class ProseFeedback(_Strict):
    """The paper's response feedback: one prose text covering strengths and how to improve."""

    response_feedback: str = Field(description="The strengths of the response and how it could be improved.")

    _check = field_validator("response_feedback")(_not_blank)


class GeneratedInstructions(_Strict):
    """New instructions written in the spirit of one feature of a reference."""

    instructions: list[str] = Field(description="The new instructions, each complete and self-contained.")

    _check = field_validator("instructions")(_some)


class GeneratedResponse(_Strict):
    """A response to a new instruction."""

    response: str = Field(description="The full response to the instruction.")

    _check = field_validator("response")(_not_blank)


class Analysis(_Strict):
    original_strengths: list[str] = Field(description="What the response already does well.")
    improvement_opportunities: list[str] = Field(description="Where the response falls short.")
    relevant_feedback: list[str] = Field(description="The parts of the reference feedback that apply to this response.")


class ImplementationStrategy(_Strict):
    planned_changes: list[str] = Field(description="The changes to make, one per item.")
    rationale: str = Field(description="Why these changes make the response better.")


class Improvement(_Strict):
    """The analysis of a response, the plan to improve it, and the improved response."""

    analysis: Analysis
    implementation_strategy: ImplementationStrategy
    improved_response: str = Field(description="The response rewritten with the planned changes.")

    _check = field_validator("improved_response")(_not_blank)


class JudgeVerdict(_Strict):
    """A pairwise judgement of two responses, A and B, to one instruction."""

    reason: str = Field(description="One sentence: what makes the preferred response better, or why neither is.")
    verdict: Literal["A", "B", "tie"] = Field(description="The better response: A, B, or tie when neither is.")

    _check = field_validator("reason")(_not_blank)


# --- What a release holds -------------------------------------------------------------------

Feature = Literal["subject", "skill"]
FEATURES: tuple[Feature, ...] = ("subject", "skill")


class Record(_Strict):
    """One synthesized record: config `default`."""

    instruction: str = Field(description="A new instruction written from a reference's feature.")
    response: str = Field(description="The teacher's response, written with the reference pair as an example.")
    analysis: Analysis = Field(description="Strengths, shortcomings and the reference feedback that applies.")
    implementation_strategy: ImplementationStrategy = Field(description="The planned changes and why.")
    improved_response: str = Field(description="The response improved with the relevant feedback.")
    reference_id: str = Field(description="Id of the reference pair (row of config `feedback`).")
    feature: str = Field(description="Which feature of the reference inspired the instruction: subject or skill.")
    teacher_model: str = Field(description="The teacher model that wrote the record.")


Preferred = Literal["improved", "original", "tie"]


class JudgeColumn(_Strict):
    """The judge's verdict on one record: column `judge` of config `default` (null when its calls failed)."""

    preferred: Preferred = Field(
        description="improved or original when the judge preferred it in both orders, otherwise tie."
    )
    original_first: Preferred = Field(description="The verdict with the original response shown first (as A).")
    reason_original_first: str = Field(description="The judge's reason, original response shown first.")
    improved_first: Preferred = Field(description="The verdict with the improved response shown first (as A).")
    reason_improved_first: str = Field(description="The judge's reason, improved response shown first.")


class ReferenceFeedback(_Strict):
    """One reference with its feedback: config `feedback`."""

    reference_id: str = Field(description="Stable id: a hash of the reference's instruction and response.")
    instruction: str = Field(description="The reference instruction, from the seed.")
    response: str = Field(description="The reference response, from the seed.")
    subject_areas: list[str] = Field(description="Subject areas of the instruction.")
    relevant_skills: list[str] = Field(description="Skills the instruction exercises.")
    response_feedback: ResponseFeedback = Field(description="Strengths of the response and how it could improve.")
    system: str = Field(description='The reference\'s system turn, from the seed ("" when it has none).')
    seed_split: str = Field(description="The seed split the reference was read from.")
    seed_row: int = Field(description="The reference's row index in that split of the seed (at the recorded commit).")


class PaperReferenceFeedback(_Strict):
    """One reference with its feedback as the paper's prompt set writes it: config `feedback`."""

    reference_id: str = Field(description="Stable id: a hash of the reference's instruction and response.")
    instruction: str = Field(description="The reference instruction, from the seed.")
    response: str = Field(description="The reference response, from the seed.")
    subject_areas: str = Field(description="A description of the subject areas of the instruction.")
    relevant_skills: str = Field(description="A description of the skills the instruction exercises.")
    response_feedback: str = Field(description="One text: the strengths of the response and how it could improve.")
    system: str = Field(description='The reference\'s system turn, from the seed ("" when it has none).')
    seed_split: str = Field(description="The seed split the reference was read from.")
    seed_row: int = Field(description="The reference's row index in that split of the seed (at the recorded commit).")


# --- The training configs: the same records in the shapes TRL's trainers take as they are --------

Role = Literal["system", "user", "assistant"]


class Message(_Strict):
    """One chat turn, as TRL's conversational formats and chat templates expect it."""

    role: Role = Field(description="Who speaks: system, user or assistant.")
    content: str = Field(description="What is said.")


class SftExample(_Strict):
    """One record as a conversation for supervised fine-tuning: config `sft`."""

    messages: list[Message] = Field(
        description="The reference's system turn (when it had one), the instruction as the user turn and the "
        "improved response as the assistant turn."
    )
    reference_id: str = Field(description="Id of the reference pair (row of config `feedback`).")
    feature: str = Field(description="Which feature of the reference inspired the instruction: subject or skill.")


class PreferenceExample(_Strict):
    """One record as a preference pair (the improved response over the first draft): config `preference`."""

    prompt: list[Message] = Field(
        description="The reference's system turn (when it had one) and the instruction as the user turn."
    )
    chosen: list[Message] = Field(description="The improved response, as the one assistant turn.")
    rejected: list[Message] = Field(description="The first response, before improvement, as the one assistant turn.")
    reference_id: str = Field(description="Id of the reference pair (row of config `feedback`).")
