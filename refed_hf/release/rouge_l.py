"""ROUGE-L F-measure between instructions, the same number the `rouge-score` package gives, fast.

The paper's diversity selection compares every candidate with every instruction already kept: tens
of millions of pairs for a 10K release. `rouge-score` computes each longest common subsequence with a
pure-Python table; here the tokens are mapped to one character each and `rapidfuzz`'s bit-parallel C
LCS does the same count, so the F-measure (computed with the package's own formula, in the same order
of float operations) is equal, not close.

Tokens: `rouge-score`'s default tokenizer (lowercase, every run outside `[a-z0-9]` a separator, no
stemming). It drops every non-ASCII letter, so text in most languages other than English scores 0
against anything: `unicode_tokens` keeps letters of any script (and treats each CJK character as a
word, as those scripts do not separate words with spaces), chosen for a release whose `--language`
is not `en`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

Tokenizer = Callable[[str], list[str]]

_NON_ALPHANUM = re.compile(r"[^a-z0-9]+")
# A letter or digit of any script, with a CJK ideograph, kana or hangul syllable as a word on its own.
_CJK = r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
_UNICODE_WORD = re.compile(rf"{_CJK}|(?:(?!{_CJK})[^\W_])+")


def rouge_score_tokens(text: str) -> list[str]:
    """The tokens `rouge-score`'s default tokenizer gives (no stemming)."""
    return _NON_ALPHANUM.sub(" ", text.lower()).split()


def unicode_tokens(text: str) -> list[str]:
    """Words of any script, lowercased; each CJK character a word of its own."""
    return _UNICODE_WORD.findall(text.lower())


def tokenizer_for(language: str) -> tuple[str, Tokenizer]:
    """The tokenizer for a release's language, with its name for the manifest."""
    if language == "en" or language.startswith("en-"):
        return "rouge-score", rouge_score_tokens
    return "unicode", unicode_tokens


class TokenCodes:
    """Each distinct token as one character, so a text becomes a string rapidfuzz compares in C."""

    def __init__(self) -> None:
        self._codes: dict[str, str] = {}

    def encode(self, tokens: Sequence[str]) -> str:
        codes = self._codes
        out = []
        for token in tokens:
            code = codes.get(token)
            if code is None:
                # Skip the surrogate range: those code points cannot stand alone in a str rapidfuzz reads.
                n = len(codes)
                code = codes[token] = chr(n if n < 0xD800 else n + 0x800)
            out.append(code)
        return "".join(out)


def f_measure(lcs: int, candidate_len: int, reference_len: int) -> float:
    """`rouge-score`'s F-measure from an LCS length, with its own formula and order of operations."""
    if candidate_len == 0 or reference_len == 0:
        return 0.0
    precision = lcs / candidate_len
    recall = lcs / reference_len
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def rouge_l(a: str, b: str, tokenize: Tokenizer = rouge_score_tokens) -> float:
    """ROUGE-L F-measure of two texts (symmetric)."""
    codes = TokenCodes()
    x, y = codes.encode(tokenize(a)), codes.encode(tokenize(b))
    return f_measure(int(LCSseq.similarity(x, y)), len(x), len(y))


def max_f_measures(candidate: str, kept: list[str], kept_lengths: np.ndarray) -> np.ndarray:
    """The F-measure of one encoded candidate against each encoded kept text, as `f_measure` computes it."""
    lcs = process.cdist([candidate], kept, scorer=LCSseq.similarity, dtype=np.int32, workers=1)[0].astype(np.float64)
    m = float(len(candidate))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = lcs / m
        recall = lcs / kept_lengths
        scores = 2 * precision * recall / (precision + recall)
    scores[(lcs == 0) | (kept_lengths == 0)] = 0.0
    return scores if m > 0 else np.zeros(len(kept))


def diverse_selection(
    texts: Sequence[str], order: Sequence[int], wanted: int, threshold: float, tokenize: Tokenizer
) -> list[int]:
    """The paper's greedy selection: walk `order` (its first item always kept), keep a text whose highest
    ROUGE-L F-measure against the texts kept so far is below `threshold`, stop at `wanted`."""
    codes = TokenCodes()
    kept_codes: list[str] = []
    kept_lengths = np.empty(0, dtype=np.float64)
    lengths: list[float] = []
    chosen: list[int] = []
    for index in order:
        if len(chosen) >= wanted:
            break
        encoded = codes.encode(tokenize(texts[index]))
        if kept_codes:
            if len(kept_lengths) != len(kept_codes):
                kept_lengths = np.asarray(lengths, dtype=np.float64)
            if float(max_f_measures(encoded, kept_codes, kept_lengths).max()) >= threshold:
                continue
        chosen.append(index)
        kept_codes.append(encoded)
        lengths.append(float(len(encoded)))
    return chosen
