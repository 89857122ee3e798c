"""The filters an item passes before it becomes a record, each counted, each on unless the recipe says off.

Each filter runs at the earliest stage that has what it needs, so nothing is paid for an item a
filter would drop anyway: `instruction_filters` judge the new instruction before any response is asked
for it (near-duplicates, seed leakage); the filters here judge the response as soon as it arrives and
the improved response as soon as it arrives. An item is counted against the first filter that drops
it (`filter_counts.FilterCounts`, per filter and per stage):

  refusal         the response or the improved response is a refusal or apology instead of an answer
                  (`REFUSAL_PATTERNS`, matched at the start of the text), or is empty once markup is
                  stripped. Answers the API itself marked with its `refusal` field never become
                  records: the teacher client fails those items, and the manifest counts them too.
  length          the improved response is shorter than `min_length_ratio` times the response it
                  improves: the teacher cut instead of improving.
  contamination   (instruction-level) the instruction shares a long word n-gram with a prompt of an
                  evaluation set (`decontamination.py`, with `--decontaminate`).
  seed_leakage    (instruction-level) the instruction is a near-duplicate of an instruction of the seed.
  near_duplicate  (instruction-level) the instruction is a near-duplicate of one screened before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

FILTERS = ("refusal", "length", "seed_leakage", "near_duplicate")

# Openings of a refusal or an apology in place of an answer. Matched at the start only: an answer
# may well say "I can't stress enough..." further on, or open with "I'm sorry to hear that" and help.
_WONT = r"(cannot|can't|can not|won't|will not|am unable to|am not able to|do not|don't)"
REFUSAL_PATTERNS = (
    rf"(i'?m|i am) (so |very |really |truly )?(sorry|afraid),? (but )?(i|we) {_WONT}",
    rf"(sorry|apologies|my apologies),? (but )?(i|we) {_WONT}",
    rf"i apologi[sz]e,? (but )?(i|we) {_WONT}",
    r"i (cannot|can't|can not|won't|will not) (help|assist|provide|comply|answer|do that|fulfil|fulfill|write|create|support)",
    r"(i'?m|i am) (unable|not able) to (help|assist|provide|comply|answer|do that|fulfil|fulfill|write|create|support)",
    rf"unfortunately,? (i|we) {_WONT}",
    rf"as an ai( language model)?,? i {_WONT}",
)
_REFUSAL = re.compile(r"^\W*(?:" + "|".join(REFUSAL_PATTERNS) + ")", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_WORDISH = re.compile(r"[^\W_]")  # a letter or a digit


def is_refusal(text: str) -> bool:
    return bool(_REFUSAL.match(text.replace("\u2019", "'")[:300]))


def is_empty(text: str) -> bool:
    """Nothing but markup: no letter or digit left once HTML tags are removed (markdown is symbols)."""
    return not _WORDISH.search(_TAG.sub(" ", text))


class InstructionFilter(Protocol):
    """A filter that judges a new instruction alone: the reason it is dropped, or None (see
    `instruction_filters`, where the build's filters of this kind are listed)."""

    name: str

    def check(self, instruction: str, reference: Any = None) -> str | None: ...


@dataclass(frozen=True)
class FilterSettings:
    """The recipe's filter fields, as the job hands them over (their defaults live on the recipe).

    `dedup_threshold` None = near-duplicate filter off; 1.0 = exact duplicates only. Seed leakage is
    judged like duplicates, at `seed_leakage_threshold`: the same threshold, or the recipe's default
    one when the near-duplicate filter is off."""

    dedup_threshold: float | None
    seed_leakage: bool
    refusal: bool
    length: bool
    min_length_ratio: float
    seed_leakage_threshold: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "dedup_threshold": "off" if self.dedup_threshold is None else self.dedup_threshold,
            "seed_leakage": self.seed_leakage,
            "refusal": self.refusal,
            "length": self.length,
            "min_length_ratio": self.min_length_ratio,
        }


def response_drop(settings: FilterSettings, response: str) -> tuple[str, str] | None:
    """(filter, reason) when a new response must be dropped before its improvement is asked for."""
    if settings.refusal and (is_refusal(response) or is_empty(response)):
        return "refusal", "the response is a refusal or empty"
    return None


def improvement_drop(settings: FilterSettings, response: str, improved: str) -> tuple[str, str] | None:
    """(filter, reason) when an improved response must be dropped."""
    if settings.refusal and (is_refusal(improved) or is_empty(improved)):
        return "refusal", "the improved response is a refusal or empty"
    if settings.length and len(improved.strip()) < settings.min_length_ratio * len(response.strip()):
        return "length", f"the improved response is shorter than {settings.min_length_ratio} x the response"
    return None
