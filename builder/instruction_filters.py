"""Filters that judge a new instruction alone, run the moment it arrives, before any response is bought.

Why here and not on the finished record: a near-duplicate instruction found after its response and its
improvement were paid for costs two calls for nothing. Everything a filter of this kind needs is the
instruction (and the reference it came from), so it screens at the instructions stage.

The seam: a filter is any object with a `name` and `check(instruction, reference) -> reason | None`
(the `InstructionFilter` Protocol). `instruction_filters(settings, seed_instructions)` returns the
filters a build runs, in the order they are asked; a new filter (for example decontamination against
evaluation prompts) is one more line in that function. The first filter that returns a reason drops
the instruction, and is counted for it.

Filters are asked in the release's fixed order (reference, index, feature), never in the order the
answers arrived, and a filter may remember what it has passed (the near-duplicate index does): so the
first of two near-duplicates wins whatever call finished first, and a rerun decides the same. Whether
the instruction's record later fails or is dropped does not take it back out of the index.

  seed_leakage    the instruction is a near-duplicate of an instruction of the seed.
  near_duplicate  the instruction is a near-duplicate of one screened before it in this release.

(Instructions that repeat the reference instruction or one of the same answer verbatim are already
dropped as the teacher's answer is read, `answer_checks.distinct_instructions`.)
"""

from __future__ import annotations

from typing import Protocol

from .dedup import NearDuplicateIndex
from .filters import DEFAULT_THRESHOLD, FilterSettings
from .stages import Reference


class InstructionFilter(Protocol):
    name: str

    def check(self, instruction: str, reference: Reference) -> str | None:
        """Why the instruction is dropped, or None to pass it on (it may then remember it)."""


class SeedLeakage:
    name = "seed_leakage"

    def __init__(self, threshold: float, seed_instructions: list[str]) -> None:
        self._seed = NearDuplicateIndex(threshold)
        self._seed.add_texts(seed_instructions)

    def check(self, instruction: str, reference: Reference) -> str | None:
        (keys,) = self._seed.keys([instruction])
        return "near-duplicate of a seed instruction" if self._seed.seen(keys) else None


class NearDuplicate:
    name = "near_duplicate"

    def __init__(self, threshold: float) -> None:
        self.index = NearDuplicateIndex(threshold)

    def check(self, instruction: str, reference: Reference) -> str | None:
        (keys,) = self.index.keys([instruction])
        if self.index.seen(keys):
            return "near-duplicate of an earlier instruction of this release"
        self.index.add(keys)
        return None


def instruction_filters(settings: FilterSettings, seed_instructions: list[str]) -> list[InstructionFilter]:
    """The instruction-level filters the settings turn on, in the order they are asked."""
    threshold = settings.dedup_threshold
    chosen: list[InstructionFilter] = []
    if settings.seed_leakage:
        # Judged like duplicates: the same threshold, or the default when the dedup filter is off.
        chosen.append(SeedLeakage(threshold if threshold is not None else DEFAULT_THRESHOLD, seed_instructions))
    if threshold is not None:
        chosen.append(NearDuplicate(threshold))
    return chosen
