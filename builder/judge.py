"""The LLM judge: does the improved response beat the response it improves? A pass over the kept records.

The method assumes the improvement is better; the paper's best subsets keep only the records where a
judge confirms it. Each record is judged twice, the original response shown first and then second,
because judges favour a position: a side wins only when it wins in both orders, anything else is a
tie. The verdict becomes column `judge` of config `default`; a record whose judge calls failed keeps
a null verdict (it costs that record its verdict, not the pass).

The pass runs one async stage over the records with `Dataset.map`, every call through `Teacher.ask`
(cached, counted under stage `judge`, sent through the Batch API with `--batch`): adding `--judge` to
a finished build pays for the judge's calls alone.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from refed_hf import prompts
from refed_hf.features import JUDGE_COLUMN, JUDGED_RECORD_FEATURES
from refed_hf.schemas import JudgeVerdict
from refed_hf.teacher import Failed, Teacher

from .record_pass import RecordStage, run_record_pass

JUDGE = "judge"
# What the judge's A / B means in each order.
_ORIGINAL_FIRST = {"A": "original", "B": "improved", "tie": "tie"}
_IMPROVED_FIRST = {"A": "improved", "B": "original", "tie": "tie"}


def judge_identity(record: dict[str, Any]) -> str:
    """A record's name in the cache: its reference, feature and instruction, not its row, so the same
    record finds its verdicts whatever order or round it came in."""
    digest = hashlib.sha256(record["instruction"].encode()).hexdigest()[:16]
    return f"{record['reference_id']}/{record['feature']}/judge/{digest}"


def combine(original_first: str, improved_first: str) -> str:
    """The verdict of both orders: a side wins only when it wins in each."""
    return original_first if original_first == improved_first else "tie"


@dataclass
class JudgeTally:
    """Records in and out of the pass (a call's failures by reason are in the teacher's ledger)."""

    items_in: int = 0
    items_out: int = 0
    verdicts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("improved", "original", "tie"), 0))
    disagreements: int = 0  # ties because the two orders named different winners

    def count(self, verdict: dict[str, str]) -> None:
        self.items_out += 1
        self.verdicts[verdict["preferred"]] += 1
        if verdict["original_first"] != verdict["improved_first"]:
            self.disagreements += 1


async def judge_record(teacher: Teacher, record: dict[str, Any]) -> dict[str, str] | None:
    """Both orders asked at once; None when either call failed."""
    identity = judge_identity(record)
    instruction, original, improved = record["instruction"], record["response"], record["improved_response"]
    first, second = await asyncio.gather(
        teacher.ask(
            JUDGE, f"{identity}/original-first", prompts.judge_messages(instruction, original, improved), JudgeVerdict
        ),
        teacher.ask(
            JUDGE, f"{identity}/improved-first", prompts.judge_messages(instruction, improved, original), JudgeVerdict
        ),
    )
    if isinstance(first, Failed) or isinstance(second, Failed):
        return None
    original_first = _ORIGINAL_FIRST[first.value.verdict]
    improved_first = _IMPROVED_FIRST[second.value.verdict]
    return {
        "preferred": combine(original_first, improved_first),
        "original_first": original_first,
        "reason_original_first": first.value.reason,
        "improved_first": improved_first,
        "reason_improved_first": second.value.reason,
    }


def judge_stage(teacher: Teacher, tally: JudgeTally) -> RecordStage:
    async def one(record: dict[str, Any]) -> dict[str, Any]:
        tally.items_in += 1
        verdict = await judge_record(teacher, record)
        if verdict is not None:
            tally.count(verdict)
        return {**record, JUDGE_COLUMN: verdict}

    return one


def judge_pass(records: datasets.Dataset, teacher: Teacher, workdir: Path) -> tuple[datasets.Dataset, JudgeTally]:
    """The records with column `judge`, in their order; `teacher` asks the judge's model."""
    tally = JudgeTally()
    judged = run_record_pass(records, judge_stage(teacher, tally), JUDGED_RECORD_FEATURES, teacher, workdir, JUDGE)
    return judged, tally
