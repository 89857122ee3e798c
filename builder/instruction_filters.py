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


class _Keys:
    """Index keys of instructions, computed for a whole reference's instructions at once (MinHash in
    bulk is several times faster than one by one) and shared by the filters of the same threshold."""

    def __init__(self, threshold: float) -> None:
        self.shape = NearDuplicateIndex(threshold)  # only its band parameters are used
        self._known: dict[str, tuple[int, ...]] = {}

    def prepare(self, texts: list[str]) -> None:
        self._known = dict(zip(texts, self.shape.keys(texts)))

    def of(self, text: str) -> tuple[int, ...]:
        keys = self._known.get(text)
        return keys if keys is not None else self.shape.keys([text])[0]


class SeedLeakage:
    name = "seed_leakage"

    def __init__(self, keys: _Keys, seed_instructions: list[str]) -> None:
        self._keys = keys
        self._seed = NearDuplicateIndex(keys.shape.threshold)
        self._seed.add_texts(seed_instructions)

    def check(self, instruction: str, reference: Any = None) -> str | None:
        return "near-duplicate of a seed instruction" if self._seed.seen(self._keys.of(instruction)) else None


class NearDuplicate:
    name = "near_duplicate"

    def __init__(self, keys: _Keys) -> None:
        self._keys = keys
        self.index = NearDuplicateIndex(keys.shape.threshold)

    def check(self, instruction: str, reference: Any = None) -> str | None:
        keys = self._keys.of(instruction)
        if self.index.seen(keys):
            return "near-duplicate of an earlier instruction of this release"
        self.index.add(keys)
        return None


class Screens(list[InstructionFilter]):
    """The build's instruction filters, in order; `prepare` hands them a reference's instructions at once."""

    def __init__(self, filters: list[InstructionFilter], keys: list[_Keys]) -> None:
        super().__init__(filters)
        self._keys = keys

    def prepare(self, texts: list[str]) -> None:
        for keys in self._keys:
            keys.prepare(texts)


def instruction_filters(
    settings: FilterSettings, seed_instructions: list[str], extra: Sequence[InstructionFilter] = ()
) -> Screens:
    """The instruction-level filters the build runs, in the order they are asked."""
    threshold = settings.dedup_threshold
    chosen: list[InstructionFilter] = list(extra)
    keys: dict[float, _Keys] = {}
    if settings.seed_leakage:
        shared = keys.setdefault(settings.seed_leakage_threshold, _Keys(settings.seed_leakage_threshold))
        chosen.append(SeedLeakage(shared, seed_instructions))
    if threshold is not None:
        chosen.append(NearDuplicate(keys.setdefault(threshold, _Keys(threshold))))
    return Screens(chosen, list(keys.values()))
