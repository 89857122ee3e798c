"""Near-duplicate detection of instructions: MinHash signatures over word shingles, banded into an LSH index.

`datasketch` computes the signatures (`MinHash.bulk`: one set of permutations for a whole batch,
vectorised). The banding is kept here instead of in `datasketch.MinHashLSH` for memory: that index
keeps, per record, its list of band keys plus one Python `set` per bucket — about 3 KB a record,
300 MB at 100k records (measured with 128 permutations). Here each band is one `set` of 64-bit
integers: about 0.5 KB a record (see `benchmarks/filters.py`). As a record only has to be tested for
"was anything like it seen before", the set of band keys is all the index needs to hold.

A threshold of 1.0 means exact duplicates only: the normalised text (case, punctuation and spacing
ignored) is compared through a 64-bit hash, no MinHash needed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import numpy as np
from datasketch import MinHash

NUM_PERM = 128
SHINGLE_WORDS = 2  # word 2-grams: instructions are short, and one changed word must not hide a copy
_WORD = re.compile(r"\w+", re.UNICODE)
# Fixed odd multipliers fold a band of signature values into one 64-bit key, the same in every run
# (Python's own `hash` of bytes is salted per process).
_FOLD = np.random.default_rng(20261127).integers(1, 2**63, size=NUM_PERM, dtype=np.uint64) | np.uint64(1)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[str]:
    tokens = words(text)
    if len(tokens) <= size:
        return {" ".join(tokens)}
    return {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def text_key(text: str) -> int:
    """A 64-bit hash of the normalised text, for exact duplicates."""
    return int.from_bytes(hashlib.blake2b(" ".join(words(text)).encode(), digest_size=8).digest(), "little")


def band_params(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """Bands b and rows r (b*r <= num_perm) whose S-curve 1-(1-s^r)^b rises through `threshold`:
    the (1/b)^(1/r) approximation of its midpoint closest to the threshold, most permutations used."""
    best: tuple[float, int, int] | None = None
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        midpoint = (1 / bands) ** (1 / rows)
        candidate = (abs(midpoint - threshold), -(bands * rows), rows)
        if best is None or candidate < best:
            best = candidate
    rows = best[2]  # type: ignore[index]
    return num_perm // rows, rows


class NearDuplicateIndex:
    """Instructions seen so far; `seen` asks whether a text is a near-duplicate of one of them."""

    def __init__(self, threshold: float) -> None:
        if not 0 < threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        self.threshold = threshold
        self.exact = threshold >= 1.0
        self.bands, self.rows = (1, 0) if self.exact else band_params(threshold)
        self._tables: list[set[int]] = [set() for _ in range(self.bands)]
        self.size = 0

    def keys(self, texts: list[str]) -> list[tuple[int, ...]]:
        """The index keys of each text (one per band), computed for a whole batch at once."""
        if self.exact or not texts:
            return [(text_key(text),) for text in texts]
        signatures = MinHash.bulk([[s.encode() for s in shingles(text)] for text in texts], num_perm=NUM_PERM)
        used = self.bands * self.rows
        values = np.stack([m.hashvalues[:used] for m in signatures]).astype(np.uint64)
        folded = (values * _FOLD[:used]).reshape(len(texts), self.bands, self.rows).sum(axis=2, dtype=np.uint64)
        return [tuple(int(k) for k in row) for row in folded]

    def seen(self, keys: tuple[int, ...]) -> bool:
        return any(key in table for key, table in zip(keys, self._tables))

    def add(self, keys: tuple[int, ...]) -> None:
        for key, table in zip(keys, self._tables):
            table.add(key)
        self.size += 1

    def add_texts(self, texts: Iterable[str], batch_size: int = 1024) -> None:
        batch: list[str] = []
        for text in texts:
            batch.append(text)
            if len(batch) == batch_size:
                for keys in self.keys(batch):
                    self.add(keys)
                batch = []
        for keys in self.keys(batch):
            self.add(keys)
