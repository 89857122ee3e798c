"""Filters that judge a new instruction alone, run the moment it arrives, before any response is bought.

Why here and not on the finished record: a near-duplicate instruction found after its response and its
improvement were paid for costs two calls for nothing. Everything a filter of this kind needs is the
instruction (and the reference it came from), so it screens at the instructions stage.

The seam: a filter is any object with a `name` and `check(instruction, reference) -> reason | None`
(the `filters.InstructionFilter` Protocol). `instruction_filters(settings, seed_instructions, extra)`
returns the filters a build runs, in the order they are asked: the job's own (decontamination against
evaluation prompts, `--decontaminate`) first, then seed leakage and near-duplicates; a new filter is
one more entry there. The first filter that returns a reason drops
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

from collections.abc import Sequence
from typing import Any

from .dedup import NearDuplicateIndex
from .filters import FilterSettings, InstructionFilter


class SeedLeakage:
    name = "seed_leakage"

    def __init__(self, threshold: float, seed_instructions: list[str]) -> None:
        self._seed = NearDuplicateIndex(threshold)
        self._seed.add_texts(seed_instructions)

    def check(self, instruction: str, reference: Any = None) -> str | None:
        (keys,) = self._seed.keys([instruction])
        return "near-duplicate of a seed instruction" if self._seed.seen(keys) else None


class NearDuplicate:
    name = "near_duplicate"

    def __init__(self, threshold: float) -> None:
        self.index = NearDuplicateIndex(threshold)

    def check(self, instruction: str, reference: Any = None) -> str | None:
        (keys,) = self.index.keys([instruction])
        if self.index.seen(keys):
            return "near-duplicate of an earlier instruction of this release"
        self.index.add(keys)
        return None


def instruction_filters(
    settings: FilterSettings, seed_instructions: list[str], extra: Sequence[InstructionFilter] = ()
) -> list[InstructionFilter]:
    """The instruction-level filters the build runs, in the order they are asked."""
    threshold = settings.dedup_threshold
    chosen: list[InstructionFilter] = list(extra)
    if settings.seed_leakage:
        chosen.append(SeedLeakage(settings.seed_leakage_threshold, seed_instructions))
    if threshold is not None:
        chosen.append(NearDuplicate(threshold))
    return chosen
