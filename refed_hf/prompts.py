"""The prompt set: every text the teacher is shown, in one place, versioned.

A release records `PROMPT_SET_VERSION` and `prompt_set_hash()`, so two releases built from different
wording can always be told apart. Change a template, bump the version.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

PROMPT_SET_VERSION = "2"

Messages = list[dict[str, str]]

SYSTEM = (
    "You are an expert teacher who writes data for instruction tuning of language models. "
    "You answer with one JSON object that follows the requested schema exactly, with no text around it."
)

# Each prompt puts what many calls share first (the system text, then the reference pair or the
# reference's feedback) and what varies last, so providers' automatic prefix caching can bill the
# shared part at the cached rate. `REFERENCE_PAIR` is the common start of a reference's calls.
REFERENCE_PAIR = """### Reference instruction
{instruction}

### Reference response
{response}

"""

FEATURES_PROMPT = (
    REFERENCE_PAIR
    + """List the subject areas (domains, topics) the reference instruction above belongs \
to, and the skills a good answer needs (for example step-by-step reasoning, persuasive writing, \
debugging, summarising). Be specific: at most five of each, each a short phrase."""
)

FEEDBACK_PROMPT = (
    REFERENCE_PAIR
    + """Judge the reference response above to its instruction as a demanding editor would. \
Write reference-level feedback: first what makes the response good (its strengths), then how it \
could be better. Consider accuracy, depth, clarity, structure, tone and fit to the instruction. \
Each point is one sentence that could guide the writer of a different response to a similar \
instruction, so name the quality, not details that only fit this text. Three to six points each."""
)

FEATURE_DESCRIPTIONS = {
    "subject": "the same subject areas: {subject_areas}",
    "skill": "the same skills: {relevant_skills}",
}

INSTRUCTIONS_PROMPT = """### Reference instruction
{instruction}

The instruction above is a high-quality instruction used to teach a language model. Write {count} new \
instructions that exercise {feature_description}. Match the reference in \
complexity and length. Make them practical (things real people ask for), diverse (different \
situations, formats and audiences, no two alike) and self-contained (everything needed to answer \
is in the instruction). Do not copy or paraphrase the reference."""

RESPONSE_PROMPT = (
    REFERENCE_PAIR.format(instruction="{reference_instruction}", response="{reference_response}")
    + """The pair above is an example of an excellent response to an instruction. Now respond to the \
following instruction. Aim for the same quality as the example: answer what is asked, be accurate, \
and choose the length and structure the instruction calls for.

### Instruction
{instruction}"""
)

IMPROVEMENT_PROMPT = """### Feedback written for a reference response
Strengths of the reference:
{strengths}
How the reference could be better:
{improvements}

Improve the response below using the feedback above, which was written for a different, related \
response, so only parts of it apply here. First analyse the response: its strengths, its \
improvement opportunities, and which points of the feedback are relevant to it (quote or restate \
them; leave out the rest). Then plan the changes and say why they help. Finally write the improved \
response, applying only the relevant feedback and keeping what already works.

### Instruction
{instruction}

### Response
{response}"""

# A reference whose seed row opened with a system turn: the teacher sees it with the instruction.
SYSTEM_TURN_PROMPT = """[System prompt the instruction was given under]
{system}

[Instruction]
{instruction}"""

JUDGE_PROMPT = """### Instruction
{instruction}

### Response A
{first}

### Response B
{second}

Compare the two responses above as answers to the instruction, as an impartial expert would. A good \
answer is helpful (it does what the user needs), correct (no factual or logical errors), deep enough \
for the question (no padding either), clear and well organised, and follows every explicit \
requirement of the instruction. Judge the content, not the length or the position of a response. \
Give your reason in one sentence, then the verdict: A, B, or tie when neither is better."""

REASK_PROMPT = """Your answer could not be used: {problem}. Answer again with only the JSON object, \
following the schema exactly."""


def _messages(user: str) -> Messages:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def with_system_turn(instruction: str, system: str) -> str:
    """The instruction with its system turn; unchanged (same prompts, same cache keys) without one."""
    return SYSTEM_TURN_PROMPT.format(system=system, instruction=instruction) if system else instruction


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items) or "- (none)"


def features_messages(instruction: str, response: str) -> Messages:
    return _messages(FEATURES_PROMPT.format(instruction=instruction, response=response))


def feedback_messages(instruction: str, response: str) -> Messages:
    return _messages(FEEDBACK_PROMPT.format(instruction=instruction, response=response))


def instructions_messages(
    instruction: str, feature: str, subject_areas: list[str], relevant_skills: list[str], count: int
) -> Messages:
    description = FEATURE_DESCRIPTIONS[feature].format(
        subject_areas="; ".join(subject_areas), relevant_skills="; ".join(relevant_skills)
    )
    return _messages(INSTRUCTIONS_PROMPT.format(instruction=instruction, count=count, feature_description=description))


def response_messages(reference_instruction: str, reference_response: str, instruction: str) -> Messages:
    return _messages(
        RESPONSE_PROMPT.format(
            reference_instruction=reference_instruction,
            reference_response=reference_response,
            instruction=instruction,
        )
    )


def improvement_messages(instruction: str, response: str, strengths: list[str], improvements: list[str]) -> Messages:
    return _messages(
        IMPROVEMENT_PROMPT.format(
            instruction=instruction,
            response=response,
            strengths=_bullets(strengths),
            improvements=_bullets(improvements),
        )
    )


def judge_messages(instruction: str, first: str, second: str) -> Messages:
    return _messages(JUDGE_PROMPT.format(instruction=instruction, first=first, second=second))


def reask_messages(previous: Messages, bad_answer: str, problem: str) -> Messages:
    """The conversation continued after an answer that did not validate."""
    return [
        *previous,
        {"role": "assistant", "content": bad_answer},
        {"role": "user", "content": REASK_PROMPT.format(problem=problem)},
    ]


def prompt_set_hash() -> str:
    """A short hash of every template, so a release names exactly the wording that made it."""
    texts: dict[str, Any] = {
        "version": PROMPT_SET_VERSION,
        "system": SYSTEM,
        "features": FEATURES_PROMPT,
        "feedback": FEEDBACK_PROMPT,
        "feature_descriptions": FEATURE_DESCRIPTIONS,
        "instructions": INSTRUCTIONS_PROMPT,
        "response": RESPONSE_PROMPT,
        "improvement": IMPROVEMENT_PROMPT,
        "reask": REASK_PROMPT,
        "judge": JUDGE_PROMPT,
        "system_turn": SYSTEM_TURN_PROMPT,
    }
    return texts_hash(texts)


def texts_hash(texts: dict[str, Any]) -> str:
    """The short hash a prompt set is named by: of its texts, canonically serialised."""
    return hashlib.sha256(json.dumps(texts, sort_keys=True).encode()).hexdigest()[:16]
