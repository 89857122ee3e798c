"""The common shapes of instruction seeds, detected from their columns, each mapped to a reference
(system, instruction, response) with nothing lost, or to the true reason its row cannot be one.

Shapes: LIMA (`conversations` of strings), ShareGPT (`conversations` of {from, value}), chat
(`messages` of {role, content}), Alpaca (instruction/input/output), Dolly (instruction/context/
response), prompt/completion and prompt/response (strings or conversational lists), and any columns
named with --instruction-column/--response-column/--context-column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from refed_hf.errors import SeedError

# Why a row gave no reference; every dropped row is counted under one of these.
MULTI_TURN = "multi_turn"  # more than one user/assistant exchange
NO_RESPONSE = "no_response"  # a prompt with no answer (LIMA's test split)
WRONG_ROLES = "wrong_roles"  # not user-then-assistant (e.g. the assistant speaks first)
EMPTY = "empty"  # the instruction or the response is blank
NOT_TEXT = "not_text"  # a turn or a cell that is not text
DUPLICATE = "duplicate"
TOO_LONG = "too_long"

USER_ROLES = {"user", "human"}
ASSISTANT_ROLES = {"assistant", "gpt", "chatgpt", "bard", "model", "bot"}
SYSTEM_ROLES = {"system"}


@dataclass(frozen=True)
class Pair:
    system: str
    instruction: str
    response: str


Mapped = Pair | str  # a reference, or the reason the row gives none
RowMapper = Callable[[dict[str, Any]], Mapped]


@dataclass(frozen=True)
class Shape:
    name: str
    columns: tuple[str, ...]
    map_row: RowMapper


@dataclass(frozen=True)
class ColumnChoice:
    """--instruction-column / --response-column / --context-column."""

    instruction: str | None = None
    response: str | None = None
    context: str | None = None

    @property
    def given(self) -> bool:
        return any((self.instruction, self.response, self.context))


def join_context(instruction: str, context: str) -> str:
    """Alpaca's `input`, Dolly's `context`: part of the instruction (the instruction, a blank line, the input)."""
    instruction, context = instruction.strip(), context.strip()
    if not context:
        return instruction
    return f"{instruction}\n\n{context}" if instruction else context


def _turns_to_pair(turns: Sequence[tuple[str, Any]]) -> Mapped:
    """(role, text) turns to a single-turn pair: one optional leading system turn, then user, assistant."""
    if any(not isinstance(text, str) for _, text in turns):
        return NOT_TEXT
    system = ""
    if turns and turns[0][0] in SYSTEM_ROLES:
        system, turns = turns[0][1], turns[1:]
    if any(role in SYSTEM_ROLES for role, _ in turns):
        return WRONG_ROLES
    if len(turns) > 2:
        return MULTI_TURN
    if len(turns) < 2:
        return NO_RESPONSE if turns and turns[0][0] in USER_ROLES else WRONG_ROLES if turns else EMPTY
    (first, instruction), (second, response) = turns
    if first not in USER_ROLES or second not in ASSISTANT_ROLES:
        return WRONG_ROLES
    return Pair(system, instruction, response)


def _role_turns(value: Any, role_key: str, text_key: str) -> list[tuple[str, Any]] | None:
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        return None
    return [(str(t.get(role_key) or "").strip().lower(), t.get(text_key)) for t in value]


def _lima(row: dict[str, Any]) -> Mapped:
    turns = row["conversations"]
    if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
        return NOT_TEXT
    if len(turns) > 2:
        return MULTI_TURN
    if len(turns) < 2:
        return NO_RESPONSE if turns else EMPTY
    return Pair("", turns[0], turns[1])


def _sharegpt(row: dict[str, Any]) -> Mapped:
    turns = _role_turns(row["conversations"], "from", "value")
    return NOT_TEXT if turns is None else _turns_to_pair(turns)


def _chat(column: str) -> RowMapper:
    def map_row(row: dict[str, Any]) -> Mapped:
        turns = _role_turns(row[column], "role", "content")
        return NOT_TEXT if turns is None else _turns_to_pair(turns)

    return map_row


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else "" if value is None else None


def _columns(instruction: str, response: str, context: str | None = None) -> RowMapper:
    def map_row(row: dict[str, Any]) -> Mapped:
        texts = [_text(row[instruction]), _text(row[response]), _text(row[context]) if context else ""]
        if any(text is None for text in texts):
            return NOT_TEXT
        first, answer, extra = (text or "" for text in texts)
        return Pair("", join_context(first, extra), answer)

    return map_row


def _prompt_completion(answer_column: str) -> RowMapper:
    """Plain strings, or TRL's conversational form: prompt = [system?, user], answer = [assistant]."""

    def map_row(row: dict[str, Any]) -> Mapped:
        prompt, answer = row["prompt"], row[answer_column]
        if isinstance(prompt, str) and isinstance(answer, str):
            return Pair("", prompt, answer)
        prompt_turns = _role_turns(prompt, "role", "content")
        answer_turns = _role_turns(answer, "role", "content")
        if prompt_turns is None or answer_turns is None:
            return NOT_TEXT
        return _turns_to_pair(prompt_turns + answer_turns)

    return map_row


def _first_value(rows: Sequence[dict[str, Any]], column: str) -> Any:
    return next((row[column] for row in rows if row.get(column)), None)


def detect_shape(columns: Sequence[str], sample: Sequence[dict[str, Any]], choice: ColumnChoice, source: str) -> Shape:
    """The seed's shape, from its columns (and a few rows, to tell LIMA from ShareGPT)."""
    present = set(columns)
    if choice.given:
        if not (choice.instruction and choice.response):
            raise SeedError("--instruction-column and --response-column go together (--context-column is optional)")
        wanted = [c for c in (choice.instruction, choice.response, choice.context) if c]
        missing = [c for c in wanted if c not in present]
        if missing:
            raise SeedError(f"seed {source} has no column {missing[0]!r}; its columns are {sorted(present)}")
        return Shape("columns", tuple(wanted), _columns(choice.instruction, choice.response, choice.context))
    if "messages" in present:
        return Shape("chat messages", ("messages",), _chat("messages"))
    if "conversations" in present:
        first = _first_value(sample, "conversations")
        if isinstance(first, list) and first and isinstance(first[0], dict):
            if "from" in first[0]:
                return Shape("sharegpt", ("conversations",), _sharegpt)
            return Shape("chat messages", ("conversations",), _chat("conversations"))
        return Shape("lima", ("conversations",), _lima)
    if {"instruction", "input", "output"} <= present:
        return Shape("alpaca", ("instruction", "input", "output"), _columns("instruction", "output", "input"))
    if {"instruction", "context", "response"} <= present:
        return Shape("dolly", ("instruction", "context", "response"), _columns("instruction", "response", "context"))
    if {"prompt", "completion"} <= present:
        return Shape("prompt/completion", ("prompt", "completion"), _prompt_completion("completion"))
    if {"prompt", "response"} <= present:
        return Shape("prompt/response", ("prompt", "response"), _prompt_completion("response"))
    for answer in ("response", "output"):
        if {"instruction", answer} <= present:
            return Shape(f"instruction/{answer}", ("instruction", answer), _columns("instruction", answer))
    raise SeedError(
        f"seed {source} has no usable columns (found {sorted(present)}): it needs `conversations`, `messages`, "
        "instruction/input/output, instruction/context/response, prompt/completion or prompt/response; "
        "or name them with --instruction-column and --response-column (and --context-column)"
    )
