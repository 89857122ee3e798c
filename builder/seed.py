"""Loading the seed set of reference pairs and normalising it to (reference_id, instruction, response).

Accepted shapes: LIMA's (`conversations`, a list of turns: single-turn rows are kept) and plain
`instruction`/`response` columns. Dropped rows are counted by reason, never silently lost.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from refed_hf.errors import SeedError

SEED_COLUMNS = ("reference_id", "instruction", "response")
_INSTRUCTION_ALIASES = ("instruction", "prompt")
_RESPONSE_ALIASES = ("response", "output", "completion")
_DATA_SUFFIXES = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}


@dataclass
class SeedReport:
    """What the seed gave: rows read, references kept, and rows dropped by reason."""

    source: str
    rows: int = 0
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "rows": self.rows, "kept": self.kept, "dropped": dict(self.dropped)}


def reference_id(instruction: str, response: str) -> str:
    """A stable id for a reference pair: the same text gives the same id in every run and release."""
    return hashlib.sha256(f"{instruction}\x00{response}".encode("utf-8")).hexdigest()[:16]


DEMO_SEED = "demo"
DEMO_SEED_FILE = Path(__file__).resolve().parent.parent / "refed_hf" / "data" / "demo_seed.jsonl"


def _read(source: str, split: str) -> datasets.Dataset:
    # `demo` is the reference set bundled with the package, usable from any directory.
    path = DEMO_SEED_FILE if source == DEMO_SEED else Path(source).expanduser()
    try:
        if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
            loaded = datasets.load_from_disk(str(path))
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix in _DATA_SUFFIXES)
            if not files:
                raise SeedError(f"seed directory {path} holds no .json, .jsonl, .parquet or .csv file")
            kinds = {_DATA_SUFFIXES[p.suffix] for p in files}
            if len(kinds) > 1:
                raise SeedError(f"seed directory {path} mixes file kinds {sorted(kinds)}: keep one kind")
            loaded = datasets.load_dataset(kinds.pop(), data_files=[str(p) for p in files], split="train")
        elif path.is_file():
            kind = _DATA_SUFFIXES.get(path.suffix)
            if kind is None:
                raise SeedError(f"seed file {path} is not .json, .jsonl, .parquet or .csv")
            loaded = datasets.load_dataset(kind, data_files=str(path), split="train")
        elif source.startswith((".", "/", "~")) or source.endswith(tuple(_DATA_SUFFIXES)):
            raise SeedError(f"seed path not found: {source} (check --seed)")
        else:
            loaded = datasets.load_dataset(source, split=split)
    except SeedError:
        raise
    except Exception as exc:  # noqa: BLE001 - datasets raises many kinds; all mean the same to the user
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SeedError(f"cannot load seed {source!r} (split {split!r}): {first_line}") from None
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise SeedError(f"seed {source} has no split {split!r}; it has {sorted(loaded)}: pass --seed-split")
        loaded = loaded[split]
    return loaded


def _turn_text(turn: Any) -> str:
    if isinstance(turn, dict):
        turn = turn.get("content", turn.get("value", ""))
    return turn if isinstance(turn, str) else ""


def _pick(columns: list[str], aliases: tuple[str, ...]) -> str | None:
    return next((name for name in aliases if name in columns), None)


def load_seed(source: str, split: str = "train") -> tuple[datasets.Dataset, SeedReport]:
    """The seed's usable reference pairs, deduplicated, with a report of what was dropped."""
    raw = _read(source, split)
    report = SeedReport(source=source, rows=len(raw))
    columns = list(raw.column_names)
    instruction_col = _pick(columns, _INSTRUCTION_ALIASES)
    response_col = _pick(columns, _RESPONSE_ALIASES)
    if "conversations" in columns:
        texts = raw["conversations"]

        def pairs() -> Any:
            for conversation in texts:
                if not isinstance(conversation, list) or len(conversation) != 2:
                    yield None, "multi_turn"
                else:
                    yield (_turn_text(conversation[0]), _turn_text(conversation[1])), None
    elif instruction_col and response_col:
        instructions, responses = raw[instruction_col], raw[response_col]

        def pairs() -> Any:
            for instruction, response in zip(instructions, responses):
                yield (instruction if isinstance(instruction, str) else "", response if isinstance(response, str) else ""), None
    else:
        raise SeedError(
            f"seed {source} has no usable columns (found {columns}): it needs `conversations` "
            "(LIMA shape) or `instruction` and `response`"
        )

    seen: set[str] = set()
    kept: dict[str, list[str]] = {name: [] for name in SEED_COLUMNS}
    for pair, dropped in pairs():
        if pair is None:
            report.dropped[dropped] += 1
            continue
        instruction, response = pair[0].strip(), pair[1].strip()
        if not instruction or not response:
            report.dropped["empty"] += 1
            continue
        rid = reference_id(instruction, response)
        if rid in seen:
            report.dropped["duplicate"] += 1
            continue
        seen.add(rid)
        kept["reference_id"].append(rid)
        kept["instruction"].append(instruction)
        kept["response"].append(response)
    report.kept = len(kept["reference_id"])
    if report.kept == 0:
        raise SeedError(f"seed {source} has no usable single-turn pair ({report.rows} rows, dropped {dict(report.dropped)})")
    features = datasets.Features({name: datasets.Value("string") for name in SEED_COLUMNS})
    return datasets.Dataset.from_dict(kept, features=features), report
