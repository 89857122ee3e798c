"""The paper's method as published: prompt sets (`paper`, the default, and `concise`), the ablation
configs of one release (`--ablations`), and the flags that reproduce the paper's run, against the fake
teacher and the Hub emulator."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import datasets
import pytest
from huggingface_hub import DatasetCard

from refed_hf.prompt_sets import PROMPT_SETS, feedback_features, prompt_set_named
from refed_hf.prompts import prompt_set_hash
from tests.conftest import HUB_TOKEN
from tests.fakes.hub import FakeHub
from tests.fakes.seeds import lima_repo_files, write_lima_seed
from tests.fakes.teacher import FakeTeacher
from tests.helpers import build, manifest

ABLATIONS = ("sft-seed", "sft-instruction-feedback", "sft-sample-feedback")

# Each element the paper's prompts carry (see the issue), by a phrase that expresses it.
PAPER_ELEMENTS = {
    "features": [
        "instruction tuning",
        "understand what a person intends",
        "recognise patterns",
        "respond appropriately",
        "subject_areas",
        "relevant_skills",
        "clear and actionable",
        "every relevant domain and skill",
        "structural elements",
    ],
    "feedback": [
        "accuracy and factual correctness",
        "quality and depth of its coverage",
        "clarity and comprehensiveness",
        "logical flow, organisation and structure",
        "depth of explanation suits",
        "engagement and tone",
        "how well it addresses what the instruction asks",
        "scope and focus",
        "needs the person implies",
        "one piece of feedback in prose",
        "does well and how it could be improved",
    ],
    "instructions": [
        "Write 10 new instructions",
        "similar complexity and length",
        "practical",
        "reasonable to ask and reasonable to answer",
        "diverse",
        "high quality",
    ],
    "response": [
        "example of an instruction with a high-quality response",
        "directly address every aspect of the instruction",
        "expertise and clear reasoning",
        "natural language",
        "examples or evidence",
        "step by step",
        "length and level of detail",
        "lists and paragraphs as needed",
    ],
    "improvement": [
        "similar but different instruction and response",
        "only its relevant aspects",
        "core strengths",
        "structure and organisation",
        "its depth",
        "aligns with the instruction",
        "relevant to this response and actionable",
        "impact each would likely have",
        "keep or raise the quality",
        "highest-impact ones first",
        "preserving what already works",
        "never remove a valuable element",
    ],
}
PROMPT_KIND = {
    "features": "Describe the instruction above",
    "feedback": "Assess how well the response above",
    "instructions": "sample taken from a set of high-quality instructions",
    "response": "Now write a response to the new instruction",
    "improvement": "Assess and improve the response in three steps",
}


def _seed(workdir: Path, single: int = 6) -> str:
    write_lima_seed(workdir / "seed.jsonl", single=single)
    return "seed.jsonl"


def _rows(release: Path, config: str, split: str = "train") -> list[dict]:
    return datasets.load_dataset(str(release), config, split=split).to_list()


def test_the_default_build_sends_the_papers_prompts_with_every_element(
    teacher_env: FakeTeacher, workdir: Path, capsys
) -> None:
    code, _, err = build(capsys, "--seed", _seed(workdir), "--size", "20", "--output", "out")
    assert code == 0, err
    prompts = teacher_env.log.prompts
    for kind, marker in PROMPT_KIND.items():
        sent = [prompt for prompt in prompts if marker in prompt]
        assert sent, f"no {kind} prompt was sent"
        for element in PAPER_ELEMENTS[kind]:
            assert all(element in prompt for prompt in sent), f"{kind} prompt lacks {element!r}"
    # One user message per call, as the paper sends them: no system message.
    assert teacher_env.log.roles["system"] == 0 and teacher_env.log.roles["user"] == len(prompts)
    # The features prompt shows the instruction alone; the improvement shows the reference's prose feedback.
    assert not any("Answer 0:" in p for p in prompts if PROMPT_KIND["features"] in p)
    assert all("Feedback [" in p for p in prompts if PROMPT_KIND["improvement"] in p)

    release = workdir / "out" / "v0.1.0"
    m = manifest(release)
    assert m["recipe"]["prompt_set"] == "paper"
    assert m["prompt_set"] == {"name": "paper", "version": "1", "hash": prompt_set_named("paper").hash()}
    feedback = datasets.load_dataset(str(release), "feedback", split="train")
    assert feedback.features == feedback_features(prompt_set_named("paper"))
    for name in ("subject_areas", "relevant_skills", "response_feedback"):
        assert feedback.features[name] == datasets.Value("string")
        assert all(isinstance(value, str) and value.strip() for value in feedback[name])
    card = (release / "README.md").read_text(encoding="utf-8")
    assert "**Prompt set `paper`.**" in card and "differ from the paper's" not in card
    yaml_features = {
        f["name"]: f
        for info in DatasetCard(card).data.to_dict()["dataset_info"]
        if info["config_name"] == "feedback"
        for f in info["features"]
    }
    assert yaml_features["response_feedback"]["dtype"] == "string"
    assert "This release has no ablation configs" in card


def test_concise_keeps_todays_prompts_hash_and_feedback_columns(
    teacher_env: FakeTeacher, workdir: Path, capsys
) -> None:
    # Today's wording is kept byte for byte: its hash, and so every concise cache key, is unchanged.
    assert prompt_set_hash() == "79eaa2c70d0555cc" == prompt_set_named("concise").hash()
    assert prompt_set_named("paper").hash() != prompt_set_named("concise").hash()
    code, _, err = build(capsys, "--seed", _seed(workdir), "--size", "20", "--output", "out", "--prompt-set", "concise")
    assert code == 0, err
    assert teacher_env.log.roles["system"] == teacher_env.log.roles["user"] > 0
    assert (
        "ReferenceFeatures" in teacher_env.log.by_schema and "InstructionDescription" not in teacher_env.log.by_schema
    )
    release = workdir / "out" / "v0.1.0"
    feedback = datasets.load_dataset(str(release), "feedback", split="train")
    assert feedback.features["subject_areas"] == datasets.List(datasets.Value("string"))
    assert feedback.features["response_feedback"] == {
        "strengths": datasets.List(datasets.Value("string")),
        "improvements": datasets.List(datasets.Value("string")),
    }
    m = manifest(release)
    assert m["prompt_set"] == {"name": "concise", "version": "2", "hash": "79eaa2c70d0555cc"}
    card = (release / "README.md").read_text(encoding="utf-8")
    assert "**Prompt set `concise`: its prompts differ from the paper's.**" in card
    assert "a system message before each prompt" in card

    # A recipe with the other prompt set is another release: built anew (its prompts are new calls).
    before = teacher_env.log.requests
    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "20", "--output", "out")
    assert code == 0, err
    assert teacher_env.log.requests > before and manifest(release)["prompt_set"]["name"] == "paper"


def test_the_recipe_names_every_prompt_set() -> None:
    from refed_hf.recipe import PROMPT_SET_NAMES

    assert PROMPT_SET_NAMES == tuple(PROMPT_SETS) and all(PROMPT_SETS[name].name == name for name in PROMPT_SETS)


def test_an_unknown_prompt_set_is_one_line_listing_the_sets_and_no_call(
    teacher_env: FakeTeacher, workdir: Path, capsys
) -> None:
    code, out, err = build(capsys, "--seed", _seed(workdir), "--size", "5", "--output", "out", "--prompt-set", "nope")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "error: bad recipe field 'prompt_set' in the command line: Value error, unknown prompt set 'nope': "
        "choose one of paper, concise (fix it there or pass --prompt-set)"
    ]
    assert teacher_env.log.requests == 0 and not (workdir / "out" / "cache.sqlite").exists()


def _sample_level_prompts(cache: Path) -> int:
    with sqlite3.connect(cache) as db:
        return db.execute("SELECT COUNT(*) FROM responses WHERE stage LIKE 'sample_%'").fetchone()[0]


def test_ablations_on_a_finished_build_pay_only_the_sample_level_calls(
    teacher_env: FakeTeacher, workdir: Path, capsys
) -> None:
    args = ("--seed", _seed(workdir), "--size", "24", "--output", "out", "--test-size", "0.25")
    code, _, err = build(capsys, *args)
    assert code == 0, err
    release = workdir / "out" / "v0.1.0"
    assert not (release / "data" / "sft-seed").exists() and "ablations" not in manifest(release)
    first = teacher_env.log.requests

    code, out, err = build(capsys, *args, "--ablations")
    assert code == 0, err
    m = manifest(release)
    records = m["records"]
    # Two calls per record, and nothing else: every other answer came from the cache.
    assert teacher_env.log.requests - first == 2 * records
    assert m["teacher"]["this_run"]["by_stage"]["sample_feedback"]["answers"] == records
    assert m["teacher"]["this_run"]["by_stage"]["sample_improvements"]["answers"] == records
    assert m["stages"]["sample_feedback"] == {"in": records, "out": records, "failed": {}}
    assert m["ablations"]["configs"] == list(ABLATIONS) and m["ablations"]["sample_feedback_missing"] == 0
    assert f"records:      {records}" in out
    rows = ", ".join(f"{name} {n}" for name, n in m["ablations"]["rows"].items())
    assert f"ablations:    {rows} rows; the sample-level baseline used {2 * records} calls" in out

    for split in ("train", "test"):
        default = _rows(release, "default", split)
        sft = _rows(release, "sft", split)
        unimproved = _rows(release, "sft-instruction-feedback", split)
        sample = _rows(release, "sft-sample-feedback", split)
        # The same synthesized instructions as `sft`, in the same order; only the answers differ.
        instructions = [row["messages"][-2]["content"] for row in sft]
        assert [row["messages"][-2]["content"] for row in unimproved] == instructions
        assert [row["messages"][-2]["content"] for row in sample] == instructions
        assert [row["messages"][-1]["content"] for row in unimproved] == [row["response"] for row in default]
        improved = [row["messages"][-1]["content"] for row in sample]
        assert all(text.startswith("Improved [") for text in improved)
        assert not set(improved) & {row["improved_response"] for row in default}
    seed_rows = _rows(release, "sft-seed") + _rows(release, "sft-seed", "test")
    assert len(seed_rows) == 6 and {row["feature"] for row in seed_rows} == {""}
    assert {row["messages"][0]["content"] for row in seed_rows} == {
        json.loads(line)["conversations"][0] for line in (workdir / "seed.jsonl").read_text().splitlines()
    }
    # The sample-level feedback was written on each synthesized response, not on the reference.
    records_all = _rows(release, "default") + _rows(release, "default", "test")
    feedback_prompts = [p for p in teacher_env.log.prompts[first:] if PROMPT_KIND["feedback"] in p]
    assert len(feedback_prompts) == records
    responses = {row["response"] for row in records_all}
    assert all(any(r in p for r in responses) and "Answer " not in p for p in feedback_prompts)
    improvement_prompts = [p for p in teacher_env.log.prompts[first:] if PROMPT_KIND["improvement"] in p]
    assert len(improvement_prompts) == records and all("Feedback [" in p for p in improvement_prompts)

    card = (release / "README.md").read_text(encoding="utf-8")
    assert "## Ablations" in card and "+ sample-level response feedback | `sft-sample-feedback`" in card
    assert "seed only (LIMA), no feedback | `sft-seed`" in card
    assert 'for config in ["sft-seed", "sft-instruction-feedback", "sft-sample-feedback", "sft"]:' in card
    configs = {c["config_name"] for c in DatasetCard(card).data.to_dict()["configs"]}
    assert configs == {"default", "feedback", "sft", "preference", *ABLATIONS}

    # A rerun pays nothing twice.
    again = teacher_env.log.requests
    code, _, err = build(capsys, *args, "--ablations")
    assert code == 0, err
    assert teacher_env.log.requests == again
    assert _sample_level_prompts(workdir / "out" / "cache.sqlite") == 2 * records


@pytest.mark.skipif(os.environ.get("REFED_TRL_TESTS") == "0", reason="REFED_TRL_TESTS=0")
def test_trl_takes_the_ablation_configs(teacher_env: FakeTeacher, workdir: Path, capsys) -> None:
    # scripts/check_with_trl.py needs trl and transformers, not project dependencies: .ci/run installs
    # them; without them this test fails (REFED_TRL_TESTS=0 skips it on a machine that has neither).
    from scripts.check_with_trl import check

    code, _, err = build(capsys, "--seed", _seed(workdir), "--size", "24", "--test-size", "0.25", "--ablations")
    assert code == 0, err
    assert check(str(workdir / "refed-release" / "v0.1.0"), None) == 0
    checked = capsys.readouterr().out
    for config in ABLATIONS:
        assert f"{config}/train:" in checked and f"{config}/test:" in checked


def test_estimate_counts_the_sample_level_calls(teacher_env: FakeTeacher, workdir: Path, capsys) -> None:
    seed = _seed(workdir, single=12)
    code, plain, err = build(capsys, "--seed", seed, "--size", "60", "--output", "a", "--estimate", "1")
    assert code == 0, err
    code, with_ablations, err = build(
        capsys, "--seed", seed, "--size", "60", "--output", "b", "--estimate", "1", "--ablations"
    )
    assert code == 0, err

    def calls(text: str) -> int:
        return int(text.split("calls:", 1)[1].split()[0])

    assert "sample_feedback 60" in with_ablations and "sample_improvements 60" in with_ablations
    assert calls(with_ablations) == calls(plain) + 120


PAPER_RUN = (
    "--teacher-model",
    "gpt-4o-mini",
    "--seed",
    "GAIR/lima",
    "--temperature",
    "1.0",
    "--top-p",
    "1.0",
    "--max-tokens",
    "4096",
    "--prompt-set",
    "paper",
    "--dedup-threshold",
    "off",
    "--no-seed-leakage-filter",
    "--no-refusal-filter",
    "--no-length-filter",
)


@pytest.fixture
def lima_hub(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    if "GAIR/lima" not in hub.repos:
        hub.add_repo("GAIR/lima", lima_repo_files(), gated="auto")
    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    return hub


def test_the_papers_run_preset_and_its_ablation_table_from_lima(
    lima_hub: FakeHub, teacher_env: FakeTeacher, workdir: Path, capsys
) -> None:
    code, _, err = build(
        capsys, *PAPER_RUN, "--size", "2000", "--ablations", "--feedback-text", "include", "--output", "out"
    )
    assert code == 0, err
    release = workdir / "out" / "v0.1.0"
    m = manifest(release)
    assert m["records"] == 2000 and m["seed"]["kept"] == 1000
    recipe = m["recipe"]
    assert (recipe["teacher_model"], recipe["temperature"], recipe["top_p"], recipe["max_tokens"]) == (
        "gpt-4o-mini",
        1.0,
        1.0,
        4096,
    )
    assert recipe["prompt_set"] == "paper" and recipe["dedup_threshold"] == "off"
    assert not (recipe["seed_leakage_filter"] or recipe["refusal_filter"] or recipe["length_filter"])
    assert set(m["filters"]["dropped"].values()) <= {0} and m["filters"]["screened"] == m["filters"]["kept"] == 2000
    assert m["filters"]["settings"]["dedup_threshold"] in (None, "off") and not m["filters"]["settings"]["refusal"]
    assert set(teacher_env.log.sampling) == {(1.0, 1.0, 4096)} and teacher_env.log.roles["system"] == 0
    configs = sorted(p.name for p in (release / "data").iterdir())
    assert configs == sorted(["default", "feedback", "sft", "preference", *ABLATIONS])
    assert len(datasets.load_dataset(str(release), "sft-seed", split="train")) == 1000
    assert len(datasets.load_dataset(str(release), "sft-sample-feedback", split="train")) == 2000
    card = (release / "README.md").read_text(encoding="utf-8")
    assert "## Ablations" in card and "full method (REFED)" in card


def test_a_recipe_published_before_prompt_sets_rebuilds_with_the_wording_it_was_built_with(tmp_path: Path) -> None:
    from refed_hf.published_recipe import recipe_toml
    from refed_hf.recipe import Recipe, load_recipe

    current = recipe_toml(Recipe(seed="GAIR/lima", size=20))
    assert 'prompt_set = "paper"' in current
    earlier = tmp_path / "earlier.toml"
    earlier.write_text("".join(line + "\n" for line in current.splitlines() if not line.startswith("prompt_set")))
    assert load_recipe(earlier, {}).prompt_set == "concise"
    assert load_recipe(earlier, {"prompt_set": "paper"}).prompt_set == "paper"  # a flag still decides
    (tmp_path / "current.toml").write_text(current)
    assert load_recipe(tmp_path / "current.toml", {}).prompt_set == "paper"
    (tmp_path / "mine.toml").write_text('seed = "GAIR/lima"\nsize = 20\n')  # written by hand: today's default
    assert load_recipe(tmp_path / "mine.toml", {}).prompt_set == "paper"


def test_the_review_page_carries_the_paper_sets_prose_feedback() -> None:
    from refed_hf.review.page import reference_entry

    paper = {
        "reference_id": "r",
        "subject_areas": "Cooking.",
        "relevant_skills": "Planning.",
        "response_feedback": "Clear; add timings.",
    }
    entry = reference_entry("train", paper)
    assert (entry["subject_areas"], entry["skills"], entry["feedback"]) == (
        ["Cooking."],
        ["Planning."],
        ["Clear; add timings."],
    )
    assert entry["strengths"] == entry["improvements"] == []
    concise = {
        "reference_id": "r",
        "subject_areas": ["a"],
        "relevant_skills": ["b"],
        "response_feedback": {"strengths": ["s"], "improvements": ["i"]},
    }
    entry = reference_entry("train", concise)
    assert (entry["subject_areas"], entry["strengths"], entry["improvements"], entry["feedback"]) == (
        ["a"],
        ["s"],
        ["i"],
        [],
    )
