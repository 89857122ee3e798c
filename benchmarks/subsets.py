"""Time of the ROUGE-L diversity subset (`--subsets rouge-l:N`) on synthetic instructions, no teacher.

Instructions of 8-30 words drawn from a 5,000-word vocabulary plus common English words (so pairs
share some words, as real instructions do). Two figures:

  selection  10,000 records -> an 8,000-record subset, as a build makes it (`release.subsets.choose`
             over a `datasets.Dataset`: seeded order, tokenizing, rapidfuzz's LCS on token codes).
  ratio      on a 1,000-record sample, the same greedy selection written plainly over `rouge-score`
             (`RougeScorer(["rougeL"]).score` against every instruction kept), against ours; both
             must choose exactly the same rows.

    python benchmarks/subsets.py                       # 10,000 -> 8,000; ratio on 1,000
    python benchmarks/subsets.py --records 2000 --wanted 1600 --sample 300   # quicker
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import datasets  # noqa: E402
from rouge_score import rouge_scorer  # noqa: E402

from refed_hf.release.rouge_l import diverse_selection, rouge_score_tokens  # noqa: E402
from refed_hf.release.subsets import choose  # noqa: E402
from refed_hf.subset_spec import parse_subsets  # noqa: E402

COMMON = "the a of to and in for on with how what why explain write describe list give your you is are".split()


def instructions(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    vocabulary = [f"word{i}" for i in range(5000)]
    texts = []
    for _ in range(n):
        length = rng.randint(8, 30)
        texts.append(
            " ".join(rng.choice(COMMON) if rng.random() < 0.4 else rng.choice(vocabulary) for _ in range(length)) + "?"
        )
    return texts


def reference_selection(texts: list[str], order: list[int], wanted: int, threshold: float) -> list[int]:
    """The paper's greedy loop, written plainly over rouge-score."""
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    chosen: list[int] = []
    for index in order:
        if len(chosen) >= wanted:
            break
        if all(scorer.score(texts[kept], texts[index])["rougeL"].fmeasure < threshold for kept in chosen):
            chosen.append(index)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--wanted", type=int, default=8_000)
    parser.add_argument("--sample", type=int, default=1_000)
    parser.add_argument("--threshold", type=float, default=0.7)
    args = parser.parse_args()

    texts = instructions(args.records)
    records = datasets.Dataset.from_dict({"instruction": texts})
    (spec,) = parse_subsets(f"rouge-l:{args.wanted}")
    started = time.perf_counter()
    rows, _, _ = choose(spec, records, 0, args.threshold, "en")
    selection_s = time.perf_counter() - started
    print(f"selection: {args.records:,} records -> {len(rows):,} chosen in {selection_s:.2f} s")

    sample = texts[: args.sample]
    order = list(range(len(sample)))
    random.Random(1).shuffle(order)
    wanted = int(args.sample * args.wanted / args.records)
    started = time.perf_counter()
    fast = diverse_selection(sample, order, wanted, args.threshold, rouge_score_tokens)
    fast_s = time.perf_counter() - started
    started = time.perf_counter()
    slow = reference_selection(sample, order, wanted, args.threshold)
    slow_s = time.perf_counter() - started
    assert fast == slow, "the fast selection chose other rows than the rouge-score loop"
    print(
        f"sample of {args.sample:,} -> {len(fast):,}: rouge-score loop {slow_s:.2f} s, ours {fast_s:.3f} s, "
        f"ratio {slow_s / fast_s:.0f}x (same rows chosen)"
    )


if __name__ == "__main__":
    main()
