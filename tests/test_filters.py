"""The record filters: a fake teacher that plants duplicates, seed copies, refusals and truncated
improvements; the release keeps exactly --size records, none of the planted ones, and counts that add up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import datasets
import pytest

from refed_hf.builder.dedup import NearDuplicateIndex, band_params, words
from refed_hf.builder.filters import FILTERS, is_empty, is_refusal
from tests.conftest import TEST_KEY
from tests.fakes.seeds import lima_rows, write_lima_seed
from tests.fakes.teacher import STOCK_INSTRUCTIONS, FakeTeacher, TeacherFaults
from tests.helpers import build, manifest, running_teacher, set_env, user_env

BAD = TeacherFaults(
    api_key=TEST_KEY,
    latency=0.005,
    jitter_sigma=1.0,
    rate_duplicate=0.15,
    rate_seed_copy=0.1,
    rate_refusal=0.1,
    rate_refusal_field=0.05,
    rate_truncated=0.1,
)
# How the response stage's prompt asks for its response, in the paper set (the default) and in `concise`.
RESPONSE_STAGE_MARKERS = ("Now write a response to the new instruction", "Now respond to the following instruction")
SIZE = 70


@pytest.fixture
def bad_teacher(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTeacher]:
    with running_teacher(BAD) as teacher:
        set_env(monkeypatch, user_env(teacher))
        yield teacher


def _normal(text: str) -> str:
    return " ".join(words(text))


def _records(release: Path) -> list[dict]:
    return datasets.load_dataset(str(release), split="train").to_list()


def _leaks(instruction: str, seed_instructions: set[str]) -> bool:
    """A planted seed copy: a seed instruction with a word added (near, not equal)."""
    return any(instruction.startswith(text + " ") for text in seed_instructions)


def test_planted_bad_records_are_dropped_and_replaced(bad_teacher: FakeTeacher, workdir: Path, capsys) -> None:
    # Instructions long enough that a seed instruction with one word added is a clear near-duplicate.
    rows = [
        {
            "conversations": [
                row["conversations"][0] + " Walk through it with one worked example, name the "
                "usual mistakes, and end with a short summary a beginner could remember.",
                row["conversations"][1],
            ]
        }
        for row in lima_rows(single=16)
    ]
    (workdir / "seed.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    seed_instructions = {_normal(row["conversations"][0]) for row in rows}
    code, out, err = build(capsys, "--seed", "seed.jsonl", "--size", str(SIZE), "--output", "out")
    assert code == 0, err
    release = workdir / "out" / "v0.1.0"
    records = _records(release)
    assert len(records) == SIZE, out

    instructions = [_normal(r["instruction"]) for r in records]
    assert len(set(instructions)) == SIZE  # no duplicate survived, case variants included
    stock = {_normal(text) for text in STOCK_INSTRUCTIONS}
    assert all(instructions.count(text) <= 1 for text in stock)
    assert any(text in stock for text in instructions)  # the first of each planted duplicate is kept
    assert not any(_leaks(text, seed_instructions) for text in instructions)
    for r in records:
        for text in (r["response"], r["improved_response"]):
            assert not is_refusal(text) and not is_empty(text), text
        assert len(r["improved_response"]) >= 0.5 * len(r["response"])

    m = manifest(release)
    f = m["filters"]
    assert f["kept"] == SIZE == m["records"]
    assert f["screened"] == f["kept"] + sum(f["dropped"].values())
    assert all(f["dropped"][name] > 0 for name in FILTERS), f
    assert f"filtered:     {f['screened'] - SIZE} of {f['screened']} dropped (refusal {f['dropped']['refusal']}," in out
    stages = m["stages"]
    # Refusals through the API's own field fail their item; they are counted and replaced too.
    api = stages["responses"]["failed"].get("refusal", 0) + stages["improvements"]["failed"].get("refusal", 0)
    assert f["api_refusals"] == api > 0
    # Each filter screens at the earliest stage that has what it needs: instruction filters before
    # any response is asked for, so no instruction they drop reaches the responses stage.
    by_stage = f["by_stage"]
    assert set(by_stage["instructions"]["dropped"]) == {"seed_leakage", "near_duplicate"}
    assert (
        set(by_stage["improvements"]["dropped"]) <= {"refusal", "length"}
        and "length" in by_stage["improvements"]["dropped"]
    )
    assert set(by_stage["responses"]["dropped"]) == {"refusal"}
    assert by_stage["instructions"]["screened"] == stages["instructions"]["out"]
    assert stages["responses"]["in"] == stages["instructions"]["out"] - sum(
        by_stage["instructions"]["dropped"].values()
    )
    assert by_stage["responses"]["screened"] == stages["responses"]["out"]
    assert by_stage["improvements"]["screened"] == stages["improvements"]["out"]
    assert m["references_used"] > SIZE / 20 + 1  # dropped records were made up from further references
    # A planted duplicate instruction is never sent to the response stage: only its first copy is.
    asked = [
        _normal(p.rsplit("### Instruction\n", 1)[1])
        for p in bad_teacher.log.prompts
        if any(marker in p for marker in RESPONSE_STAGE_MARKERS)
    ]
    assert all(asked.count(text) <= 1 for text in stock) and any(text in stock for text in asked)

    # Decisions depend on the cache, not on which call finished first: a rerun from the cache
    # (answers in a different order, no latency) keeps and drops exactly the same records.
    requests = bad_teacher.log.requests
    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", str(SIZE), "--output", "out", "--version", "0.1.1")
    assert code == 0, err
    assert bad_teacher.log.requests == requests
    again = workdir / "out" / "v0.1.1"
    assert _records(again) == records
    assert manifest(again)["filters"] == f

    # Every filter off: the planted records come through.
    code, _, err = build(
        capsys,
        "--seed",
        "seed.jsonl",
        "--size",
        str(SIZE),
        "--output",
        "out",
        "--version",
        "0.2.0",
        "--dedup-threshold",
        "off",
        "--no-seed-leakage-filter",
        "--no-refusal-filter",
        "--no-length-filter",
    )
    assert code == 0, err
    unfiltered = _records(workdir / "out" / "v0.2.0")
    off = manifest(workdir / "out" / "v0.2.0")["filters"]
    assert len(unfiltered) == SIZE and off["dropped"] == {name: 0 for name in FILTERS}
    plain = [_normal(r["instruction"]) for r in unfiltered]
    assert len(set(plain)) < SIZE
    assert any(_leaks(text, seed_instructions) for text in plain)
    assert any(is_refusal(r["response"]) or is_refusal(r["improved_response"]) for r in unfiltered)
    assert any(len(r["improved_response"]) < 0.5 * len(r["response"]) for r in unfiltered)


def test_bad_dedup_threshold_exits_2(teacher_env: FakeTeacher, workdir: Path, capsys) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=2)
    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "5", "--dedup-threshold", "1.5")
    assert code == 2 and teacher_env.log.requests == 0
    assert err.strip() == (
        "error: bad recipe field 'dedup_threshold' in the command line: Value error, must be a "
        "Jaccard similarity in (0, 1] (1.0 = exact duplicates only) or off (fix it there or pass "
        "--dedup-threshold)"
    )


def test_near_duplicate_index_threshold_and_exact_mode() -> None:
    base = "Write a short story about a lighthouse keeper who finds a message in a bottle on the beach"
    near = base + " today"  # word 2-gram Jaccard 16/17 = 0.94
    far = "Summarise the causes of the French revolution for a class of twelve year old pupils"
    index = NearDuplicateIndex(0.8)
    index.add(index.keys([base])[0])
    near_keys, far_keys, recased = index.keys([near, far, base.upper() + "!"])
    assert index.seen(near_keys) and index.seen(recased) and not index.seen(far_keys)

    exact = NearDuplicateIndex(1.0)
    exact.add(exact.keys([base])[0])
    assert exact.seen(exact.keys(["  " + base.upper() + " ."])[0])
    assert not exact.seen(exact.keys([near])[0])

    bands, rows = band_params(0.8)
    assert bands * rows <= 128 and abs((1 / bands) ** (1 / rows) - 0.8) < 0.05


def test_refusal_patterns_match_openings_only() -> None:
    assert is_refusal("I'm sorry, but I can't help with that.")
    assert is_refusal("  I\u2019m afraid I cannot do that")
    assert is_refusal("As an AI language model, I cannot provide medical advice.")
    assert is_refusal("Unfortunately, I am unable to browse the internet.")
    assert not is_refusal("Binary search halves the range each step. I can't stress this enough: sort first.")
    assert not is_refusal("Sorting algorithms compared: quicksort, mergesort.")
    assert not is_refusal("I'm sorry to hear about your plant. Here is how to save it: water less.")
    assert not is_refusal("I am unable to overstate how useful binary search is.")
    assert is_empty("<p> </p>") and is_empty("```\n\n```") and is_empty("  ") and is_empty("**___**\n---")
    assert not is_empty("<b>42</b>")
