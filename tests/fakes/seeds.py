"""Small seed sets in the shapes the builder accepts, written to disk for a test or a benchmark."""

from __future__ import annotations

import json
from pathlib import Path

TOPICS = [
    "sorting a list in Python",
    "the causes of inflation",
    "writing a cover letter",
    "photosynthesis",
    "negotiating a salary",
    "proving that sqrt(2) is irrational",
    "planning a week of meals",
    "explaining recursion to a child",
    "the French revolution",
    "fixing a leaking tap",
]


def lima_rows(single: int, multi: int = 0, content_filtered: int = 0) -> list[dict[str, object]]:
    """LIMA-shaped rows: `single` single-turn pairs, `multi` multi-turn conversations (to be dropped),
    and `content_filtered` pairs the fake teacher refuses."""
    rows: list[dict[str, object]] = []
    for i in range(single):
        topic = TOPICS[i % len(TOPICS)]
        rows.append(
            {
                "conversations": [
                    f"Question {i}: please explain {topic}.",
                    f"Answer {i}: here is a careful explanation of {topic}, step by step.",
                ],
                "source": "test",
            }
        )
    for i in range(multi):
        rows.append({"conversations": [f"Multi {i}?", "Sure.", "And more?", "Yes."], "source": "test"})
    for i in range(content_filtered):
        rows.append({"conversations": [f"Tell me about FORBIDDEN-TOPIC {i}.", "I will not."], "source": "test"})
    return rows


def write_lima_seed(path: Path, single: int, multi: int = 0, content_filtered: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for row in lima_rows(single, multi, content_filtered):
            out.write(json.dumps(row) + "\n")
    return path


def jsonl(rows: list[dict[str, object]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode("utf-8")


LIMA_CARD = """---
license: other
language:
- en
pretty_name: LIMA (emulated)
extra_gated_prompt: Accept the terms to access LIMA.
---

# LIMA (emulated for tests)
"""

LIMA_SCRIPT = b'''import datasets


class Lima(datasets.GeneratorBasedBuilder):
    """A loading script, as GAIR/lima has one: datasets >= 4 refuses to run it."""
'''


def lima_repo_files() -> dict[str, bytes]:
    """A repo shaped like GAIR/lima: its card, a loading script `lima.py`, `train.jsonl` (1,000
    single-turn + 30 multi-turn rows) and `test.jsonl` (300 rows holding the prompt alone)."""
    test_rows = [
        {"conversations": [f"Test prompt {i}: describe {TOPICS[i % len(TOPICS)]}."], "source": "test"}
        for i in range(300)
    ]
    return {
        "README.md": LIMA_CARD.encode(),
        ".gitattributes": b"*.parquet filter=lfs diff=lfs merge=lfs -text\n",
        "lima.py": LIMA_SCRIPT,
        "train.jsonl": jsonl(lima_rows(1000, 30)),
        "test.jsonl": jsonl(test_rows),
    }
