"""The word-level diff of a response and its improvement, as the review page shows it.

The diff is stored instead of the two texts: the equal and deleted segments give the response back,
the equal and inserted ones the improvement, so the page carries each text once. Words and
punctuation marks are compared, each carrying the whitespace after it: whitespace alone never
anchors a match (which would cut "a b" against "c d" into four changes), and a word that only moved
to a new line is equal, its whitespace marked as changed.
"""

from __future__ import annotations

import difflib
import re

EQUAL, DELETED, INSERTED = 0, -1, 1
_TOKEN = re.compile(r"^\s+|\w+\s*|[^\w\s]\s*")

Segment = tuple[int, str]


def tokens(text: str) -> list[str]:
    """Words and punctuation marks with their trailing whitespace (and any leading whitespace alone):
    joined, they give `text` back."""
    return _TOKEN.findall(text)


def word_diff(before: str, after: str) -> list[Segment]:
    """Segments (EQUAL | DELETED | INSERTED, text), adjacent ones of the same kind merged."""
    a, b = tokens(before), tokens(after)
    matcher = difflib.SequenceMatcher(None, [t.rstrip() for t in a], [t.rstrip() for t in b], autojunk=False)
    segments: list[Segment] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for old, new in zip(a[i1:i2], b[j1:j2]):
                _equal_word(segments, old, new)
            continue
        _add(segments, DELETED, "".join(a[i1:i2]))
        _add(segments, INSERTED, "".join(b[j1:j2]))
    return segments


def _equal_word(segments: list[Segment], old: str, new: str) -> None:
    if old == new:
        _add(segments, EQUAL, old)
        return
    word = old.rstrip()
    _add(segments, EQUAL, word)
    _add(segments, DELETED, old[len(word) :])
    _add(segments, INSERTED, new[len(word) :])


def _add(segments: list[Segment], kind: int, text: str) -> None:
    if not text:
        return
    if segments and segments[-1][0] == kind:
        segments[-1] = (kind, segments[-1][1] + text)
    else:
        segments.append((kind, text))


def side(segments: list[Segment], kind: int) -> str:
    """One text back from its diff: `DELETED` gives the response, `INSERTED` the improvement."""
    return "".join(text for op, text in segments if op in (EQUAL, kind))
