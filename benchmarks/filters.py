"""Time and peak memory of the record filters at 10k and 100k synthetic records (no teacher needed).

Synthetic records (instructions of 8-30 words from a 5,000-word vocabulary, 5% planted duplicates,
1% copies of a seed instruction, 2% refusals, 2% truncated improvements; a seed of 1,000 instructions) go through the pipeline's screening step exactly as in a
build: the instruction-level filters on each instruction, then the response and improvement filters,
here inside a batched `Dataset.map` of 640 records (32 references x 20).
Every figure is a ratio against a bound measured in the same run:

  time    the work no near-duplicate filter can skip: datasketch's MinHash signatures of the same
          instructions (`MinHash.bulk`, batches of 640): time ratio = (map with filters) / (signatures
          alone). Also shown: the same `Dataset.map` without the filters.
  memory  the peak (tracemalloc) of the screening pass — the near-duplicate index plus each batch in
          flight — against the peak of the smallest duplicate index there is: a Python set of the
          normalised instruction strings (exact duplicates only). Also shown: the peak of
          `datasketch.MinHashLSH` holding the same signatures (the index it would take off the shelf).

    python benchmarks/filters.py                  # 10k and 100k records
    python benchmarks/filters.py --sizes 2000     # quicker
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import datasets  # noqa: E402
from datasketch import MinHash, MinHashLSH  # noqa: E402

from refed_hf.builder.dedup import NUM_PERM, shingles, words  # noqa: E402
from refed_hf.builder.filters import improvement_drop, response_drop  # noqa: E402
from refed_hf.builder.instruction_filters import instruction_filters  # noqa: E402
from refed_hf.job import filter_settings  # noqa: E402
from refed_hf.recipe import Recipe  # noqa: E402

BATCH = 640


def synthetic(n: int, seed: int = 0, seed_instructions: list[str] | None = None) -> dict[str, list[Any]]:
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(5000)]

    def sentence(low: int, high: int) -> str:
        return " ".join(rng.choice(vocabulary) for _ in range(rng.randint(low, high)))

    columns: dict[str, list[Any]] = {"instruction": [], "response": [], "improved_response": []}
    for i in range(n):
        planted = rng.random()
        instruction = columns["instruction"][rng.randrange(i)] if i and planted < 0.05 else sentence(8, 30) + "?"
        if seed_instructions and 0.09 <= planted < 0.10:
            instruction = rng.choice(seed_instructions).upper()
        response = sentence(20, 80)
        improved = response + " " + sentence(5, 40)
        if 0.05 <= planted < 0.07:
            response = "I'm sorry, but I can't help with that."
        elif 0.07 <= planted < 0.09:
            improved = " ".join(response.split()[:5])
        columns["instruction"].append(instruction)
        columns["response"].append(response)
        columns["improved_response"].append(improved)
    return columns


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def _peak(fn: Callable[[], Any]) -> tuple[int, Any]:
    gc.collect()
    tracemalloc.start()
    result = fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, result


class _Screen:
    """The build's filters in the order a build asks them, counting as the manifest does."""

    def __init__(self, seed_instructions: list[str]) -> None:
        self.settings = filter_settings(Recipe())
        self.filters = instruction_filters(self.settings, seed_instructions)
        self.dropped: dict[str, int] = {}
        self.kept = self.screened = 0

    def keep(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        names = list(batch)
        kept: dict[str, list[Any]] = {name: [] for name in names}
        for position, values in enumerate(zip(*batch.values())):
            row = dict(zip(names, values))
            self.screened += 1
            if position % 20 == 0:  # a build hands each reference's instructions over at once
                self.filters.prepare(batch["instruction"][position : position + 20])
            reason = next((f.name for f in self.filters if f.check(row["instruction"]) is not None), None)
            if reason is None:
                found = response_drop(self.settings, row["response"]) or improvement_drop(
                    self.settings, row["response"], row["improved_response"]
                )
                reason = found[0] if found else None
            if reason is not None:
                self.dropped[reason] = self.dropped.get(reason, 0) + 1
                continue
            self.kept += 1
            for name in names:
                kept[name].append(row[name])
        return kept

    def counts(self) -> dict[str, Any]:
        return {"screened": self.screened, "kept": self.kept, "dropped": self.dropped}


def _screen_map(records: datasets.Dataset, seed_instructions: list[str]) -> tuple[_Screen, datasets.Dataset]:
    screen = _Screen(seed_instructions)
    kept = records.map(screen.keep, batched=True, batch_size=BATCH, load_from_cache_file=False, keep_in_memory=True)
    return screen, kept


def _screen_only(columns: dict[str, list[Any]], seed_instructions: list[str]) -> _Screen:
    screen = _Screen(seed_instructions)
    for start in range(0, len(columns["instruction"]), BATCH):
        screen.keep({name: values[start : start + BATCH] for name, values in columns.items()})
    return screen


def _signatures(instructions: list[str]) -> int:
    made = 0
    for start in range(0, len(instructions), BATCH):
        batch = instructions[start : start + BATCH]
        made += len(MinHash.bulk([[s.encode() for s in shingles(t)] for t in batch], num_perm=NUM_PERM))
    return made


def _naive_set(instructions: list[str]) -> set[str]:
    return {" ".join(words(text)) for text in instructions}


def _datasketch_lsh(instructions: list[str]) -> MinHashLSH:
    lsh = MinHashLSH(threshold=0.8, num_perm=NUM_PERM)
    for start in range(0, len(instructions), BATCH):
        batch = instructions[start : start + BATCH]
        for i, signature in enumerate(
            MinHash.bulk([[s.encode() for s in shingles(t)] for t in batch], num_perm=NUM_PERM)
        ):
            if not lsh.query(signature):
                lsh.insert(start + i, signature, check_duplication=False)
    return lsh


def run(n: int, compare_datasketch: bool) -> None:
    seed_instructions = synthetic(1000, seed=1)["instruction"]
    columns = synthetic(n, seed_instructions=seed_instructions)
    records = datasets.Dataset.from_dict(columns)
    plain_s, _ = _timed(
        lambda: records.map(
            lambda b: b, batched=True, batch_size=BATCH, load_from_cache_file=False, keep_in_memory=True
        )
    )
    filtered_s, (screen, kept) = _timed(lambda: _screen_map(records, seed_instructions))
    signatures_s, _ = _timed(lambda: _signatures(columns["instruction"]))
    counts = screen.counts()
    assert len(kept) == counts["kept"] and counts["screened"] == n
    peak, _ = _peak(lambda: _screen_only(columns, seed_instructions))
    naive_peak, _ = _peak(lambda: _naive_set(columns["instruction"]))
    line = (
        f"records={n:>7}  filters: {filtered_s:6.2f} s ({1e6 * (filtered_s - plain_s) / n:5.1f} us/record added, "
        f"map without filters {plain_s:5.2f} s)  signatures alone: {signatures_s:5.2f} s  "
        f"time ratio {filtered_s / signatures_s:4.2f}  |  "
        f"peak {peak / 2**20:6.1f} MiB ({peak / n:5.0f} B/record)  exact-set bound {naive_peak / 2**20:5.1f} MiB  "
        f"memory ratio {peak / naive_peak:4.2f}"
    )
    if compare_datasketch:
        lsh_peak, _ = _peak(lambda: _datasketch_lsh(columns["instruction"]))
        line += f"  |  datasketch MinHashLSH {lsh_peak / 2**20:6.1f} MiB (ratio {peak / lsh_peak:4.2f})"
    print(line, flush=True)
    print(f"               dropped: {counts['dropped']}  kept: {counts['kept']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument(
        "--no-datasketch-lsh",
        dest="compare",
        action="store_false",
        help="skip measuring datasketch.MinHashLSH on the same records",
    )
    args = parser.parse_args()
    datasets.disable_progress_bars()
    for n in args.sizes:
        run(n, args.compare)


if __name__ == "__main__":
    main()
