"""Prompt sets, selectable with `--prompt-set`: the wording the teacher is shown and the shape of the
reference-level feedback it writes back.

The stages ask a `PromptSet` for their messages and schemas and never branch on its name, so a new
set is a new class here. `paper` follows the published method (`paper_prompts`); `concise` is this
project's earlier wording (`prompts`), kept byte for byte so its hash, and the cache keys of builds
made with it, do not change.
"""

from __future__ import annotations

from typing import Any, Protocol

import datasets
from pydantic import BaseModel

from . import paper_prompts, prompts
from .errors import RecipeError
from .features import features_of
from .schemas import (
    InstructionDescription,
    PaperReferenceFeedback,
    ProseFeedback,
    ReferenceFeatures,
    ReferenceFeedback,
    ResponseFeedback,
)

Messages = list[dict[str, str]]


class PromptSet(Protocol):
    """What a stage needs from a prompt set: messages to send and the schemas of the answers."""

    name: str
    version: str
    features_schema: type[BaseModel]  # the answer to the instruction analysis
    feedback_schema: type[BaseModel]  # the answer to the response feedback
    feedback_row: type[BaseModel]  # a row of config `feedback`

    def features_messages(self, instruction: str, response: str) -> Messages: ...
    def feedback_messages(self, instruction: str, response: str) -> Messages: ...
    def instructions_messages(self, instruction: str, feature: str, features: Any, count: int) -> Messages: ...
    def response_messages(self, reference_instruction: str, reference_response: str, instruction: str) -> Messages: ...
    def improvement_messages(self, instruction: str, response: str, feedback: Any) -> Messages: ...
    def empty_feedback(self) -> dict[str, Any]: ...
    def hash(self) -> str: ...


class ConciseSet:
    """This project's own wording: a system message, short phrases and two lists of feedback points."""

    name = "concise"
    version = prompts.PROMPT_SET_VERSION
    features_schema: type[BaseModel] = ReferenceFeatures
    feedback_schema: type[BaseModel] = ResponseFeedback
    feedback_row: type[BaseModel] = ReferenceFeedback

    def features_messages(self, instruction: str, response: str) -> Messages:
        return prompts.features_messages(instruction, response)

    def feedback_messages(self, instruction: str, response: str) -> Messages:
        return prompts.feedback_messages(instruction, response)

    def instructions_messages(self, instruction: str, feature: str, features: Any, count: int) -> Messages:
        return prompts.instructions_messages(
            instruction, feature, features.subject_areas, features.relevant_skills, count
        )

    def response_messages(self, reference_instruction: str, reference_response: str, instruction: str) -> Messages:
        return prompts.response_messages(reference_instruction, reference_response, instruction)

    def improvement_messages(self, instruction: str, response: str, feedback: Any) -> Messages:
        return prompts.improvement_messages(instruction, response, feedback.strengths, feedback.improvements)

    def empty_feedback(self) -> dict[str, Any]:
        return {"subject_areas": [], "relevant_skills": [], "response_feedback": {"strengths": [], "improvements": []}}

    def hash(self) -> str:
        return prompts.prompt_set_hash()


class PaperSet:
    """The published method's prompts: one user message, prose descriptions and one prose feedback."""

    name = "paper"
    version = paper_prompts.PAPER_SET_VERSION
    features_schema: type[BaseModel] = InstructionDescription
    feedback_schema: type[BaseModel] = ProseFeedback
    feedback_row: type[BaseModel] = PaperReferenceFeedback

    def features_messages(self, instruction: str, response: str) -> Messages:
        # The paper analyses the instruction alone; the response is judged by the feedback prompt.
        return paper_prompts.features_messages(instruction)

    def feedback_messages(self, instruction: str, response: str) -> Messages:
        return paper_prompts.feedback_messages(instruction, response)

    def instructions_messages(self, instruction: str, feature: str, features: Any, count: int) -> Messages:
        return paper_prompts.instructions_messages(
            instruction, feature, features.subject_areas, features.relevant_skills, count
        )

    def response_messages(self, reference_instruction: str, reference_response: str, instruction: str) -> Messages:
        return paper_prompts.response_messages(reference_instruction, reference_response, instruction)

    def improvement_messages(self, instruction: str, response: str, feedback: Any) -> Messages:
        return paper_prompts.improvement_messages(instruction, response, feedback.response_feedback)

    def empty_feedback(self) -> dict[str, Any]:
        return {"subject_areas": "", "relevant_skills": "", "response_feedback": ""}

    def hash(self) -> str:
        return paper_prompts.paper_set_hash(
            {"reask": prompts.REASK_PROMPT, "judge": prompts.JUDGE_PROMPT, "system_turn": prompts.SYSTEM_TURN_PROMPT}
        )


PROMPT_SETS: dict[str, PromptSet] = {"paper": PaperSet(), "concise": ConciseSet()}
DEFAULT_PROMPT_SET = "paper"


def prompt_set_named(name: str) -> PromptSet:
    try:
        return PROMPT_SETS[name]
    except KeyError:
        raise RecipeError(f"unknown prompt set '{name}': choose one of {', '.join(PROMPT_SETS)}") from None


def feedback_features(prompt_set: PromptSet) -> datasets.Features:
    """The Features of config `feedback` under a prompt set: its columns follow the set's schema."""
    return features_of(prompt_set.feedback_row)


def feedback_columns(prompt_set: PromptSet, features: BaseModel | None, feedback: BaseModel | None) -> dict[str, Any]:
    """A reference's feedback as the `feedback` config's columns (empty values when it has none)."""
    if features is None or feedback is None:
        return prompt_set.empty_feedback()
    return {**features.model_dump(), "response_feedback": _feedback_value(feedback)}


def _feedback_value(feedback: BaseModel) -> Any:
    dumped = feedback.model_dump()
    # A set whose feedback is one field stores that field's value; otherwise the whole structure.
    return next(iter(dumped.values())) if len(dumped) == 1 else dumped


def describe(prompt_set: PromptSet) -> dict[str, str]:
    """The manifest's `prompt_set` part: which set built the release, its version and its hash."""
    return {"name": prompt_set.name, "version": prompt_set.version, "hash": prompt_set.hash()}
