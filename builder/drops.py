"""What the build threw away, kept beside its cache for review (`refed-hf review`), never published.

A release holds only what passed; a reviewer also wants to read what did not (a refusal, a cut
improvement, an instruction that copies the seed) before trusting the filters. Every place that drops
an item calls `record_drop` with the item's texts and the reason; the items are appended as they go
(memory stays flat) and, when the release is written, sorted into `OUTPUT/dropped-vX.Y.Z.jsonl`,
so the file is the same whatever order the calls finished in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

STAGE_ORDER = ("feedback", "instructions", "responses", "improvements", "filters")


def dropped_file(output: Path, version: str) -> Path:
    """Beside the cache and the release folders, outside any release: never uploaded."""
    return output / f"dropped-v{version}.jsonl"


class DropLog:
    """Appends each dropped item as a JSON line; `DropLog(None)` keeps nothing (estimates, benchmarks)."""

    def __init__(self, final: Path | None) -> None:
        self.final = final
        self._partial = final.with_name(f".{final.name}.partial") if final is not None else None
        self.count = 0
        if self._partial is not None:
            self._partial.write_text("", encoding="utf-8")

    def record_drop(self, stage: str, reason: str, item: Mapping[str, Any]) -> None:
        """One dropped item: the stage and reason, and the item's fields as it had them (reference_id,
        feature, instruction, response, improved_response, analysis, ...)."""
        self.count += 1
        if self._partial is None:
            return
        line = json.dumps({"stage": stage, "reason": reason, **item}, ensure_ascii=False)
        with self._partial.open("a", encoding="utf-8") as out:
            out.write(line + "\n")

    def finish(self) -> Path | None:
        """Sort the items (stage, reference, feature, then the whole item) into the final file."""
        if self._partial is None or self.final is None:
            return None
        # split("\n"), not splitlines(): a text may hold U+2028, which JSON leaves unescaped.
        items = [json.loads(line) for line in self._partial.read_text(encoding="utf-8").split("\n") if line]
        items.sort(key=_order)
        text = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)
        self._partial.write_text(text, encoding="utf-8")
        self._partial.replace(self.final)
        return self.final

    def discard(self) -> None:
        """After a failed build: no half list is left to be mistaken for the build's."""
        if self._partial is not None:
            self._partial.unlink(missing_ok=True)


def _order(item: dict[str, Any]) -> tuple[Any, ...]:
    stage = item["stage"]
    rank = STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER)
    # The whole item last: two drops never tie, so the order never depends on which call finished first.
    return (rank, item.get("reference_id", ""), item.get("feature", ""), json.dumps(item, sort_keys=True))


NO_DROPS = DropLog(None)
