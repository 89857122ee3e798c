"""The `paper` prompt set: the five prompts of the method as its authors published them, element for
element, written in this project's own words.

What makes it the paper's method rather than a rewrite: one user message per call (no system
message); prose descriptions of the instruction's subject areas and skills; one prose feedback on the
reference response judged against named criteria; a response prompt that spells out what a good
answer does; and an improvement prompt that walks through analysis, evaluation and planning. The
output fields are the paper's, so a release built with this set has the paper's `feedback` columns.
Change a template, bump the version: the hash then names the new wording.
"""

from __future__ import annotations

from typing import Any

from .prompts import texts_hash

PAPER_SET_VERSION = "1"

Messages = list[dict[str, str]]

# Aimed at instruction tuning, as the paper frames it: the model learns to understand what is asked,
# to recognise the kind of task, and to respond appropriately.
FEATURES_PROMPT = """We are preparing data for instruction tuning, which teaches a language model to \
understand what a person intends, to recognise patterns in the tasks it is given, and to respond \
appropriately.

### Reference instruction
{instruction}

Describe the instruction above in two parts, each in a few sentences of prose:
- subject_areas: the subject areas and domains it involves;
- relevant_skills: the skills a model needs to respond to it well.

While you describe it, consider what makes the instruction clear and actionable, name every \
relevant domain and skill (not only the most obvious one), and take account of its structural \
elements: the format it asks for, its constraints and its parts."""

FEEDBACK_PROMPT = """### Instruction
{instruction}

### Response
{response}

Assess how well the response above answers its instruction. Judge it against these criteria.

Content quality:
- accuracy and factual correctness;
- the quality and depth of its coverage of the topic.

Communication:
- clarity and comprehensiveness;
- logical flow, organisation and structure;
- whether the depth of explanation suits the question;
- engagement and tone.

Instruction alignment:
- how well it addresses what the instruction asks;
- its scope and focus;
- whether it meets the needs the person implies without stating them.

Write one piece of feedback in prose, response_feedback, that covers both what the response does \
well and how it could be improved."""

FEATURE_DESCRIPTIONS = {
    "subject": "Its subject areas are described as follows: {subject_areas}\n\nThe new instructions must belong "
    "to these subject areas.",
    "skill": "The skills it calls for are described as follows: {relevant_skills}\n\nThe new instructions must "
    "call for these skills.",
}

INSTRUCTIONS_PROMPT = """### Reference instruction
{instruction}

The instruction above is a sample taken from a set of high-quality instructions. \
{feature_description}

Write {count} new instructions. Each one should:
- be of similar complexity and length to the sample instruction;
- be practical, something that is reasonable to ask and reasonable to answer;
- be diverse, unlike the others in task and wording;
- be of high quality.

Return them in instructions."""

RESPONSE_PROMPT = """Below is an example of an instruction with a high-quality response.

### Example instruction
{reference_instruction}

### Example response
{reference_response}

Now write a response to the new instruction that follows. Your response should:
- directly address every aspect of the instruction;
- show expertise and clear reasoning;
- be written in natural language;
- include examples or evidence where they are relevant;
- reason step by step where the task calls for it;
- keep a length and level of detail suited to the instruction;
- use formatting such as lists and paragraphs as needed.

### Instruction
{instruction}"""

IMPROVEMENT_PROMPT = """You are given feedback, an instruction and a response to it. The feedback was \
written for a similar but different instruction and response, so not all of it applies here: use \
only its relevant aspects.

### Feedback (written for a similar pair)
{feedback}

Assess and improve the response in three steps.
1. Analyse the original response: its core strengths, its structure and organisation, its depth, \
and how closely it aligns with the instruction (original_strengths, improvement_opportunities).
2. Evaluate the feedback: which of its points are relevant to this response and actionable, the \
impact each would likely have, and whether applying it would keep or raise the quality \
(relevant_feedback).
3. Plan the changes (planned_changes, rationale): the highest-impact ones first, preserving what \
already works; never remove a valuable element.

Then write improved_response, the response with the planned changes made.

### Instruction
{instruction}

### Response
{response}"""


def _user(text: str) -> Messages:
    # The paper sends each call as one user message, with no system message.
    return [{"role": "user", "content": text}]


def features_messages(instruction: str) -> Messages:
    return _user(FEATURES_PROMPT.format(instruction=instruction))


def feedback_messages(instruction: str, response: str) -> Messages:
    return _user(FEEDBACK_PROMPT.format(instruction=instruction, response=response))


def instructions_messages(
    instruction: str, feature: str, subject_areas: str, relevant_skills: str, count: int
) -> Messages:
    description = FEATURE_DESCRIPTIONS[feature].format(subject_areas=subject_areas, relevant_skills=relevant_skills)
    return _user(INSTRUCTIONS_PROMPT.format(instruction=instruction, count=count, feature_description=description))


def response_messages(reference_instruction: str, reference_response: str, instruction: str) -> Messages:
    return _user(
        RESPONSE_PROMPT.format(
            reference_instruction=reference_instruction, reference_response=reference_response, instruction=instruction
        )
    )


def improvement_messages(instruction: str, response: str, feedback: str) -> Messages:
    return _user(IMPROVEMENT_PROMPT.format(feedback=feedback, instruction=instruction, response=response))


def paper_set_hash(shared: dict[str, Any]) -> str:
    """A short hash of every template, with the texts `shared` with the other set (re-ask, judge, system turn)."""
    texts: dict[str, Any] = {
        "version": PAPER_SET_VERSION,
        "features": FEATURES_PROMPT,
        "feedback": FEEDBACK_PROMPT,
        "feature_descriptions": FEATURE_DESCRIPTIONS,
        "instructions": INSTRUCTIONS_PROMPT,
        "response": RESPONSE_PROMPT,
        "improvement": IMPROVEMENT_PROMPT,
        **shared,
    }
    return texts_hash(texts)
