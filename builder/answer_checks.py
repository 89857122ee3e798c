"""Answers that parse but do not do their job: an improvement that changes nothing or explains
nothing, and new instructions that repeat the reference or each other.

An improvement is rejected through `Teacher.ask(check=...)`, so it is asked again like any answer
that does not validate, and counted as `no_change` / `empty_analysis` if the re-asks do not fix it.
Repeated instructions are dropped and counted; the next candidates make up the records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from refed_hf.schemas import Improvement
from refed_hf.teacher.answers import InvalidAnswer


def _same_text(text: str) -> str:
    return " ".join(text.split())


def _instruction_key(text: str) -> str:
    return _same_text(text).casefold().rstrip(" .?!:")


def improvement_check(response: str) -> Callable[[Improvement], None]:
    """A check that rejects an improvement of `response` that changes nothing or is not explained."""
    original = _same_text(response)

    def check(improvement: Improvement) -> None:
        if _same_text(improvement.improved_response) == original:
            raise InvalidAnswer(
                "improved_response is the response unchanged; apply the planned changes", reason="no_change"
            )
        analysis = improvement.analysis
        if not any(
            item.strip()
            for item in [*analysis.original_strengths, *analysis.improvement_opportunities, *analysis.relevant_feedback]
        ):
            raise InvalidAnswer(
                "the analysis is empty; list strengths, opportunities and the relevant feedback",
                reason="empty_analysis",
            )
        strategy = improvement.implementation_strategy
        if not any(item.strip() for item in strategy.planned_changes) or not strategy.rationale.strip():
            raise InvalidAnswer(
                "the implementation strategy is empty; list the planned changes and give the rationale",
                reason="empty_analysis",
            )

    return check


def distinct_instructions(
    texts: list[str], reference_instruction: str, on_drop: Callable[[str, str], None] | None = None
) -> tuple[list[str], Counter[str]]:
    """The instructions that repeat neither the reference instruction nor an earlier one (ignoring
    case, spacing and end punctuation), and how many were dropped, by reason; `on_drop(reason, text)`
    is told each one."""
    dropped: Counter[str] = Counter()
    seen = {_instruction_key(reference_instruction)}
    reference = next(iter(seen))
    kept: list[str] = []
    for text in texts:
        key = _instruction_key(text)
        if not key:
            continue
        if key in seen:
            reason = "repeats_reference" if key == reference else "duplicate_instruction"
            dropped[reason] += 1
            if on_drop is not None:
                on_drop(reason, text)
            continue
        seen.add(key)
        kept.append(text.strip())
    return kept, dropped
