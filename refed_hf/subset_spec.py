"""`--subsets judge:1000,rouge-l:2000,random:2000`: the subset configs a release adds, as the recipe
checks them before any call (the release builds them: `release/subsets.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

Method = Literal["judge", "rouge-l", "random"]
METHODS: tuple[Method, ...] = ("judge", "rouge-l", "random")


@dataclass(frozen=True)
class SubsetSpec:
    method: Method
    size: int
    written: str  # N as the user wrote it: the config's name keeps that spelling

    @property
    def config(self) -> str:
        return f"sft-{self.method}-{self.written}"


def parse_subsets(spec: str) -> list[SubsetSpec]:
    """The items of a `--subsets` value; ValueError with the fix for a bad one."""
    items = [item.strip() for item in spec.split(",") if item.strip()]
    parsed: list[SubsetSpec] = []
    for item in items:
        method, sep, count = item.partition(":")
        method = method.strip().lower()
        if not sep or method not in METHODS:
            raise ValueError(f"'{item}' is not METHOD:N with METHOD one of {', '.join(METHODS)} (e.g. judge:1000)")
        written = count.strip()
        if not written.isdigit() or int(written) <= 0:
            raise ValueError(f"'{item}': N must be a whole number above 0 (e.g. {method}:1000)")
        parsed.append(SubsetSpec(cast(Method, method), int(written), written))
    names = [subset.config for subset in parsed]
    if len(set(names)) != len(names):
        raise ValueError("names the same subset twice: give each METHOD:N once")
    return parsed
