"""The quality report of a release: figures (PNG) and numbers, from its data files and manifest.

The build writes it into the release (`assets/*.png`, the numbers under `quality` in the manifest,
both shown by the card); `python -m refed_hf.report` draws the same for any release, on disk or on
the Hub, to compare two. Data is read in batches of the parquet files, never whole: lengths come
from Arrow compute, texts only for the fixed-size samples the similarity numbers need.
"""

from __future__ import annotations

import difflib
import itertools
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..features import JUDGE_COLUMN
from . import figures
from .manifest import Filters, Manifest, Quality

ASSETS = "assets"
LENGTH_FIELDS = ("instruction", "response", "improved_response")
DIVERSITY_SAMPLE = 10_000  # instructions: distinct 2-grams / 2-grams depends on the count, so fix it
SIMILARITY_SAMPLE = 300  # instructions: 44,850 pairs
CHANGE_SAMPLE = 1_000  # records whose response and improvement are compared word by word
CHANGED_OVER = 20  # percent
TOP = 20
SAMPLE_SEED = 0
_WORD = re.compile(r"\w+", re.UNICODE)

FIGURES = {
    "lengths": "lengths.png",
    "improvement": "improvement.png",
    "features": "features.png",
    "filters": "filters.png",
    "judge": "judge.png",
}
VERDICTS = ("improved", "original", "tie")
NO_VERDICT = "no_verdict"  # the judge's calls failed for the record


def _shards(release: Path, config: str) -> list[Path]:
    return sorted((release / "data" / config).glob("*.parquet"))


def _batches(release: Path, config: str, columns: list[str]) -> Any:
    for shard in _shards(release, config):
        yield from pq.ParquetFile(shard).iter_batches(batch_size=4096, columns=columns)


def _rows(release: Path) -> int:
    return sum(pq.ParquetFile(shard).metadata.num_rows for shard in _shards(release, "default"))


def _judged(release: Path) -> bool:
    shards = _shards(release, "default")
    return bool(shards) and JUDGE_COLUMN in pq.ParquetFile(shards[0]).schema_arrow.names


def _judge_numbers(release: Path) -> dict[str, Any]:
    """The judge's verdicts counted from column `judge`: overall, per feature, and each order's
    verdict against the other's (the diagonal is where the two orders agree)."""
    overall: Counter[str] = Counter()
    by_feature: dict[str, Counter[str]] = {}
    orders: Counter[tuple[str, str]] = Counter()
    for batch in _batches(release, "default", ["feature", JUDGE_COLUMN]):
        columns = batch.to_pydict()
        for feature, verdict in zip(columns["feature"], columns[JUDGE_COLUMN]):
            preferred = verdict["preferred"] if verdict is not None else NO_VERDICT
            overall[preferred] += 1
            by_feature.setdefault(feature, Counter())[preferred] += 1
            if verdict is not None:
                orders[(verdict["original_first"], verdict["improved_first"])] += 1
    records = sum(overall.values())
    judged = records - overall[NO_VERDICT]
    agreed = sum(n for (first, second), n in orders.items() if first == second)

    def share(n: int, of: int) -> float | None:
        return round(n / of, 4) if of else None

    def counts(tally: Counter[str]) -> dict[str, int]:
        return {name: tally[name] for name in (*VERDICTS, NO_VERDICT)}

    return {
        "records": records,
        "judged": judged,
        **counts(overall),
        "disagreements": judged - agreed,
        # Shares of all records, as the manifest's `judge` part gives them: no verdict is no win.
        "win_rate": share(overall["improved"], records),
        "tie_share": share(overall["tie"], records),
        "agreement_share": share(agreed, judged),
        "by_feature": {
            feature: {**counts(tally), "win_rate": share(tally["improved"], sum(tally.values()))}
            for feature, tally in sorted(by_feature.items())
        },
        # orders[original first][improved first]: records judged so in each order.
        "orders": {first: {second: orders[(first, second)] for second in VERDICTS} for first in VERDICTS},
    }


def _pick(rows: int, size: int) -> set[int]:
    return set(range(rows)) if rows <= size else set(random.Random(SAMPLE_SEED).sample(range(rows), size))


def _bigrams(text: str) -> list[tuple[str, str]]:
    words = _WORD.findall(text.lower())
    return list(zip(words, words[1:]))


def _changed(response: str, improved: str) -> float:
    """Share of the text changed: 1 - difflib's similarity ratio of the two word sequences."""
    matcher = difflib.SequenceMatcher(None, response.split(), improved.split(), autojunk=False)
    return 1.0 - matcher.ratio()


def _mean_pairwise_similarity(texts: list[str]) -> float | None:
    sets = [set(_bigrams(text)) for text in texts]
    scores = [len(a & b) / len(a | b) for a, b in itertools.combinations(sets, 2) if a | b]
    return round(float(np.mean(scores)), 4) if scores else None


def _read(release: Path) -> dict[str, Any]:
    """Lengths of every record, the samples, and the feature counts of the feedback table."""
    rows = _rows(release)
    diversity, similarity, change = (
        _pick(rows, DIVERSITY_SAMPLE),
        _pick(rows, SIMILARITY_SAMPLE),
        _pick(rows, CHANGE_SAMPLE),
    )
    lengths: dict[str, list[np.ndarray]] = {name: [] for name in LENGTH_FIELDS}
    instructions: dict[int, str] = {}
    pairs: list[tuple[str, str]] = []
    start = 0
    for batch in _batches(release, "default", list(LENGTH_FIELDS)):
        for name in LENGTH_FIELDS:
            lengths[name].append(pc.utf8_length(batch.column(name)).to_numpy(zero_copy_only=False))
        wanted = [i for i in range(start, start + batch.num_rows) if i in diversity or i in similarity or i in change]
        if wanted:
            picked = batch.take([i - start for i in wanted]).to_pydict()
            for i, instruction, response, improved in zip(
                wanted, picked["instruction"], picked["response"], picked["improved_response"]
            ):
                if i in diversity or i in similarity:
                    instructions[i] = instruction
                if i in change:
                    pairs.append((response, improved))
        start += batch.num_rows
    features: dict[str, Counter[str]] = {"subject areas": Counter(), "skills": Counter()}
    for batch in _batches(release, "feedback", ["subject_areas", "relevant_skills"]):
        columns = batch.to_pydict()
        # Only the `concise` set writes labels to count; the `paper` set's prose descriptions are not labels.
        for labels in columns["subject_areas"]:
            features["subject areas"].update(label.strip() for label in labels if isinstance(labels, list))
        for labels in columns["relevant_skills"]:
            features["skills"].update(label.strip() for label in labels if isinstance(labels, list))
    return {
        "rows": rows,
        "lengths": {
            name: np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64) for name, parts in lengths.items()
        },
        "diversity": [instructions[i] for i in sorted(diversity)],
        "similarity": [instructions[i] for i in sorted(similarity)],
        "pairs": pairs,
        "features": features,
    }


def quality_report(
    release: Path, filters: Filters | None, out: Path, changed_over: float = CHANGED_OVER
) -> dict[str, Any]:
    """Write the figures into `out` and return the numbers and the figures (file, alt text);
    `filters` is the manifest's part of that name (None for a release built before the filters)."""
    data = _read(release)
    lengths = data["lengths"]
    all_bigrams = [gram for text in data["diversity"] for gram in _bigrams(text)]
    changes = [_changed(response, improved) for response, improved in data["pairs"]]
    medians = {name: int(np.median(values)) if len(values) else 0 for name, values in lengths.items()}
    ratio = lengths["improved_response"] / np.maximum(lengths["response"], 1)
    numbers: dict[str, Any] = {
        "records": data["rows"],
        "median_length": medians,
        "median_improved_to_response_ratio": round(float(np.median(ratio)), 3) if len(ratio) else None,
        "distinct_2gram_ratio": round(len(set(all_bigrams)) / len(all_bigrams), 4) if all_bigrams else None,
        "distinct_2gram_sample": len(data["diversity"]),
        "mean_pairwise_similarity": _mean_pairwise_similarity(data["similarity"]),
        "pairwise_similarity_sample": len(data["similarity"]),
        "changed_over_percent": changed_over,
        "changed_share": round(sum(c > changed_over / 100 for c in changes) / len(changes), 4) if changes else None,
        "changed_sample": len(changes),
        "filters": filters,
    }
    top = {name: counts.most_common(TOP) for name, counts in data["features"].items()}
    settings = filters.settings if filters is not None else None
    min_ratio = settings.min_length_ratio if settings is not None and settings.length else None
    figures.lengths({name.replace("_", " "): values for name, values in lengths.items()}, out / FIGURES["lengths"])
    figures.improvement(lengths["response"], lengths["improved_response"], min_ratio, out / FIGURES["improvement"])
    figures.top_features(top, out / FIGURES["features"])
    drawn = [
        (
            "lengths",
            "Histograms of the length in characters of the instructions, responses and improved responses "
            f"(medians {medians['instruction']}, {medians['response']} and {medians['improved_response']})",
        ),
        (
            "improvement",
            "Scatter plot of each record's improved response length against its response length, "
            f"with the same-length line (median ratio {numbers['median_improved_to_response_ratio']})",
        ),
        ("features", f"Bar charts of the {TOP} most frequent subject areas and skills of the references"),
    ]
    if filters is not None:
        dropped = dict(filters.dropped)
        if filters.api_refusals:
            dropped["refusal (API field)"] = filters.api_refusals
        figures.filters(filters.kept, dropped, out / FIGURES["filters"])
        summary = ", ".join(f"{name} {n}" for name, n in dropped.items())
        drawn.append(("filters", f"Bar chart of records kept ({filters.kept}) and dropped per filter ({summary})"))
    if _judged(release):
        numbers["judge"], alt = _draw_judge(release, out / FIGURES["judge"])
        drawn.append(("judge", alt))
    numbers["figures"] = [{"file": FIGURES[key], "alt": alt} for key, alt in drawn]
    return numbers


def _segments(part: dict[str, Any]) -> dict[str, int]:
    """A part of the judge's numbers as the figure's bar segments: the verdicts, then the records without one."""
    counts = {name: part[name] for name in VERDICTS}
    return {**counts, "no verdict": part[NO_VERDICT]} if part[NO_VERDICT] else counts


def _draw_judge(release: Path, path: Path) -> tuple[dict[str, Any], str]:
    """The judge's figure: its numbers and its alt text."""
    judge = _judge_numbers(release)
    rows = {"all": _segments(judge), **{name: _segments(part) for name, part in judge["by_feature"].items()}}
    orders = np.array([[judge["orders"][first][second] for second in VERDICTS] for first in VERDICTS])
    figures.judge(rows, orders, path)
    per_feature = "; ".join(
        f"{name}: improved {part['improved']}, original {part['original']}, tie {part['tie']}"
        for name, part in judge["by_feature"].items()
    )
    missing = f", no verdict {judge[NO_VERDICT]}" if judge[NO_VERDICT] else ""
    alt = (
        f"Stacked bars of the judge's verdicts on {judge['records']} records: improved {judge['improved']}, "
        f"original {judge['original']}, tie {judge['tie']}{missing} (win rate {judge['win_rate']}); by feature, "
        f"{per_feature}. A grid of the verdict with the original response shown first against the verdict with "
        f"it shown second: the two orders agree on {judge['judged'] - judge['disagreements']} of "
        f"{judge['judged']} records"
    )
    return judge, alt


def add_to_release(staging: Path, manifest: Manifest) -> Manifest:
    """The writer's hook: figures into the release's `assets/`, numbers into its manifest."""
    quality = quality_report(staging, manifest.filters, staging / ASSETS)
    del quality["filters"]  # already in the manifest, under `filters`
    quality.pop("judge", None)  # the manifest has the judge's own part; the figure's alt text the rest
    quality["figures"] = [{**figure, "file": f"{ASSETS}/{figure['file']}"} for figure in quality["figures"]]
    return manifest.model_copy(update={"quality": Quality.model_validate(quality)})


def describe(numbers: dict[str, Any]) -> str:
    """The numbers as printed by `python -m refed_hf.report`."""
    lines = [f"records:                  {numbers['records']}"]
    filters: Filters | None = numbers.get("filters")
    if filters is not None:
        dropped = ", ".join(f"{name} {n}" for name, n in filters.dropped.items())
        lines.append(f"filters:                  {filters.screened} screened, {filters.kept} kept; dropped: {dropped}")
        lines.append(f"refused (API field):      {filters.api_refusals} (failed before screening, replaced)")
    else:
        lines.append("filters:                  not recorded (release built before the filters)")
    judge = numbers.get("judge")
    if judge is not None:
        lines.append(
            f"judge:                    improved {judge['improved']}, original {judge['original']}, tie {judge['tie']} "
            f"of {judge['records']} (win rate {judge['win_rate']}, orders agree on {judge['agreement_share']} "
            "of the judged)"
        )
        for feature, part in judge["by_feature"].items():
            lines.append(
                f"judge, {feature + ':':<19}improved {part['improved']}, original {part['original']}, "
                f"tie {part['tie']} (win rate {part['win_rate']})"
            )
    median = numbers["median_length"]
    lines += [
        f"median length (chars):    instruction {median['instruction']}, response {median['response']}, "
        f"improved {median['improved_response']}",
        f"improved / response:      {numbers['median_improved_to_response_ratio']} (median)",
        f"distinct 2-gram ratio:    {numbers['distinct_2gram_ratio']} (instructions, sample of {numbers['distinct_2gram_sample']})",
        f"mean pairwise similarity: {numbers['mean_pairwise_similarity']} (Jaccard of word 2-grams, "
        f"{numbers['pairwise_similarity_sample']} instructions)",
        f"changed > {numbers['changed_over_percent']:g}%:            {numbers['changed_share']} of records "
        f"(word-level diff of response and improvement, sample of {numbers['changed_sample']})",
    ]
    return "\n".join(lines)
