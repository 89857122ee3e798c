"""Decontamination: no synthesized instruction may carry a prompt of an evaluation set.

A user who trains on a release and evaluates on AlpacaEval or Arena-Hard must be able to trust that
the evaluation prompts did not leak into the training data. The teacher writes instructions from the
seed's, and a seed or a teacher may know the benchmarks: so each new instruction is checked against
the evaluation prompts the moment it arrives, before its response is bought, and dropped when it
shares a long word n-gram with one (13 words by default, as in common decontamination practice: long
enough that a shared run of words is not chance). A prompt shorter than that counts when the
instruction contains it whole. Words are compared after normalising case, spacing and punctuation.

The sources are read with the seed reader (a Hub dataset at a resolved commit, or a local file or
directory) and named in the release as the seed is: a Hub id at its commit, or a local file by sha256.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import datasets

from refed_hf.errors import SeedError
from refed_hf.recipe import is_local_seed

from .hub_seed import read_hub
from .local_seed import read_local
from .stages import Reference

# Columns that hold an evaluation prompt, in the order they are looked for (AlpacaEval: instruction;
# Arena-Hard: turns; MT-Bench: turns; chat sets: messages / conversations).
PROMPT_COLUMNS = (
    "instruction",
    "prompt",
    "question",
    "turns",
    "messages",
    "conversations",
    "conversation",
    "input",
    "query",
    "text",
)
SPLITS = ("test", "eval", "train", "validation")
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> tuple[str, ...]:
    """A text's words, lowercased, with punctuation and spacing gone."""
    return tuple(_WORD.findall(text.lower()))


def _prompt_text(value: Any) -> str | None:
    """The prompt in a cell: a string, the first user turn of a chat, or the first of a list of turns."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("content", "value", "text", "prompt"):
            if isinstance(value.get(key), str):
                return value[key]
        return None
    if isinstance(value, list) and value:
        users = [
            turn for turn in value if isinstance(turn, dict) and turn.get("role", turn.get("from")) in ("user", "human")
        ]
        return _prompt_text(users[0] if users else value[0])
    return None


def _read_rows(source: str) -> tuple[datasets.Dataset, dict[str, Any]]:
    """The rows of the source's first split among `SPLITS` (a lone file is split train)."""
    last: SeedError | None = None
    for split in SPLITS:
        try:
            if is_local_seed(source):
                return read_local(source, split)
            return read_hub(source, "main", None, split)
        except SeedError as exc:
            if "no split" not in str(exc):
                # The seed reader's fixes name the seed's flags; here the source came from --decontaminate.
                message = f"decontamination source {source}: {exc}"
                message = message.replace("--seed-split", "a split").replace("check --seed", "check --decontaminate")
                message = message.replace("seed path not found", "not found")
                raise SeedError(message) from None
            last = exc
    raise SeedError(f"decontamination source {source} has none of the splits {', '.join(SPLITS)}: {last}")


def _column(source: str, rows: datasets.Dataset, column: str | None) -> str:
    if column is not None:
        if column not in rows.column_names:
            raise SeedError(
                f"decontamination source {source} has no column {column!r}; it has {rows.column_names}: "
                "fix --decontaminate-column"
            )
        return column
    for name in PROMPT_COLUMNS:
        if name in rows.column_names:
            return name
    raise SeedError(
        f"decontamination source {source} has no prompt column (looked for {', '.join(PROMPT_COLUMNS)}); "
        f"it has {rows.column_names}: name one with --decontaminate-column"
    )


def describe_source(provenance: dict[str, Any]) -> str:
    """A source as the release names it: never a local path."""
    if provenance["kind"] == "hub":
        return f"{provenance['name']} at commit {provenance['sha']}"
    return f"a local file, sha256 {provenance['sha256']}"


@dataclass
class EvaluationSet:
    described: str
    prompts: list[str]


def read_source(source: str, column: str | None) -> EvaluationSet:
    """An evaluation set's prompts, by the seed reader; SeedError with the fix when there are none."""
    rows, provenance = _read_rows(source)
    name = _column(source, rows, column)
    prompts = [text for value in rows[name] if (text := _prompt_text(value))]
    if not prompts:
        raise SeedError(
            f"decontamination source {source}: column {name!r} holds no text; name another with --decontaminate-column"
        )
    return EvaluationSet(describe_source(provenance), prompts)


@dataclass
class Decontamination:
    """An instruction-level filter: `check` names the evaluation set an instruction overlaps, or None."""

    sets: list[EvaluationSet]
    ngram: int = 13
    name: str = "contamination"
    _long: dict[tuple[str, ...], int] = field(default_factory=dict, init=False, repr=False)
    _short: dict[int, dict[tuple[str, ...], int]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for index, evaluation in enumerate(self.sets):
            for prompt in evaluation.prompts:
                self._index(words(prompt), index)

    def _index(self, tokens: tuple[str, ...], source: int) -> None:
        n = self.ngram
        if not tokens:
            return
        if len(tokens) < n:
            self._short.setdefault(len(tokens), {}).setdefault(tokens, source)
            return
        for start in range(len(tokens) - n + 1):
            self._long.setdefault(tokens[start : start + n], source)

    def source_of(self, instruction: str) -> int | None:
        """The first evaluation set (by index) whose prompt the instruction overlaps."""
        tokens = words(instruction)
        for length, grams in [(self.ngram, self._long), *self._short.items()]:
            for start in range(len(tokens) - length + 1):
                found = grams.get(tokens[start : start + length])
                if found is not None:
                    return found
        return None

    def check(self, instruction: str, reference: Reference | None = None) -> str | None:
        source = self.source_of(instruction)
        if source is None:
            return None
        return self.reason(source)

    def reason(self, source: int) -> str:
        return f"shares a {self.ngram}-word run with a prompt of {self.sets[source].described}"

    def report(self, reasons: Mapping[str, int]) -> dict[str, Any]:
        """For the manifest: the drops per source, from the reasons the release's ordered pass counted
        (an instruction screened past the last item the release needed does not count)."""
        return {
            "ngram": self.ngram,
            "sources": [
                {
                    "source": s.described,
                    "prompts": len(s.prompts),
                    "contamination_drops": reasons.get(self.reason(i), 0),
                }
                for i, s in enumerate(self.sets)
            ],
        }


def decontamination(sources: Iterable[str], column: str | None, ngram: int) -> Decontamination | None:
    """The filter for the recipe's sources (None without any), every source read before any call."""
    sets = [read_source(source, column) for source in sources]
    return Decontamination(sets, ngram) if sets else None
