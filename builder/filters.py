"""The filters a record passes before it is accepted, each counted, each on unless the recipe says off.

`RecordScreen.keep` is handed every candidate record in the release's order (reference order from
`--random-seed`, then feature, then index) and returns the ones kept; a kept instruction enters the
near-duplicate index, so the first of two near-duplicates wins whatever call finished first. A
record is counted against the first filter that rejects it, in this order (cheapest first):

  refusal         the response or the improved response is a refusal or apology instead of an answer
                  (`REFUSAL_PATTERNS`, matched at the start of the text), or is empty once markup is
                  stripped. Answers the API itself marked with its `refusal` field never become
                  records: the teacher client fails those items, and the manifest counts them too.
  length          the improved response is shorter than `min_length_ratio` times the response it
                  improves: the teacher cut instead of improving.
  contamination   the instruction shares a long word n-gram with a prompt of an evaluation set
                  (`decontamination.py`, with `--decontaminate`).
  seed_leakage    the instruction is a near-duplicate of an instruction of the seed.
  near_duplicate  the instruction is a near-duplicate of one already accepted in this release.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .dedup import NearDuplicateIndex
from .drops import NO_DROPS, DropLog

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
    """A filter that judges a new instruction alone: the reason it is dropped, or None."""

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


class RecordScreen:
    """Stateful across rounds: the near-duplicate index holds every instruction accepted so far."""

    def __init__(
        self,
        settings: FilterSettings,
        seed_instructions: list[str] | None = None,
        drops: DropLog = NO_DROPS,
        instruction_filters: Sequence[InstructionFilter] = (),
    ) -> None:
        self.settings = settings
        self.drops = drops
        self.instruction_filters = list(instruction_filters)
        names = [*FILTERS[:2], *(f.name for f in self.instruction_filters), *FILTERS[2:]]
        self.dropped: Counter[str] = Counter({name: 0 for name in names})
        self.screened = 0
        self.kept = 0
        threshold = settings.dedup_threshold
        self._release = NearDuplicateIndex(threshold) if threshold is not None else None
        self._seed = NearDuplicateIndex(settings.seed_leakage_threshold) if settings.seed_leakage else None
        if self._seed is not None:
            self._seed.add_texts(seed_instructions or [])

    def _reason(self, record: dict[str, Any]) -> str | None:
        s = self.settings
        response, improved = record["response"], record["improved_response"]
        if s.refusal and any(is_refusal(text) or is_empty(text) for text in (response, improved)):
            return "refusal"
        if s.length and len(improved.strip()) < s.min_length_ratio * len(response.strip()):
            return "length"
        return None

    def keep(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """The records of a columnar batch that pass every filter, in order."""
        names = list(batch)
        rows = [dict(zip(names, values)) for values in zip(*batch.values())]
        instructions = [row["instruction"] for row in rows]
        seed_keys = self._seed.keys(instructions) if self._seed is not None else None
        # Both indexes share their band parameters when the thresholds agree: compute the keys once.
        release_keys = None
        if self._release is not None:
            same = self._seed is not None and self._seed.threshold == self._release.threshold
            release_keys = seed_keys if same else self._release.keys(instructions)
        kept: dict[str, list[Any]] = {name: [] for name in names}
        for i, row in enumerate(rows):
            self.screened += 1
            reason = self._reason(row)
            for screen in self.instruction_filters:
                if reason is None and screen.check(row["instruction"]) is not None:
                    reason = screen.name
            if reason is None and seed_keys is not None and self._seed.seen(seed_keys[i]):  # type: ignore[union-attr]
                reason = "seed_leakage"
            if reason is None and release_keys is not None:
                if self._release.seen(release_keys[i]):  # type: ignore[union-attr]
                    reason = "near_duplicate"
                else:
                    self._release.add(release_keys[i])  # type: ignore[union-attr]
            if reason is not None:
                self.dropped[reason] += 1
                self.drops.record_drop("filters", reason, row)
                continue
            self.kept += 1
            for name in names:
                kept[name].append(row[name])
        return kept

    def counts(self) -> dict[str, Any]:
        """For the manifest: screened = kept + the sum of dropped."""
        return {
            "settings": self.settings.as_dict(),
            "screened": self.screened,
            "kept": self.kept,
            "dropped": dict(self.dropped),
            "index_size": self._release.size if self._release is not None else 0,
        }
