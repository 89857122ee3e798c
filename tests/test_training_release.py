"""Training-ready releases: `sft` and `preference` in TRL's shapes, the grouped `test` split, the card a
person decides on, and `recipe.toml` round-tripping through the Hub emulator. No torch, no TRL."""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import datasets
import pytest
import yaml
from huggingface_hub import DatasetCard

from refed_hf.errors import RecipeError
from refed_hf.features import PREFERENCE_FEATURES, RECORD_FEATURES, SFT_FEATURES
from refed_hf.published_recipe import recipe_toml
from refed_hf.recipe import Recipe
from refed_hf.release.splits import held_out_references, split_by_reference
from refed_hf.release.training_configs import training_configs
from tests.conftest import HUB_TOKEN, TEST_KEY
from tests.fakes.hub import FakeHub
from tests.fakes.seeds import write_lima_seed
from tests.fakes.teacher import FakeTeacher
from tests.helpers import build, build_process, manifest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# The Hub's task ids under task category text-generation (huggingface.js tasks list).
HUB_TEXT_GENERATION_TASK_IDS = {"dialogue-modeling", "dialogue-generation", "conversational", "language-modeling"}


def _load(release: Path, config: str, split: str) -> datasets.Dataset:
    return datasets.load_dataset(str(release), config, split=split)


def _is_turn_list(value: object) -> bool:
    """What TRL's `is_conversational` tests: a list of dicts with `role` and `content`."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, dict) and set(m) == {"role", "content"} for m in value)
    )


@pytest.fixture
def split_release(teacher_env: FakeTeacher, workdir: Path, capsys) -> Path:
    write_lima_seed(workdir / "seed.jsonl", single=12)
    code, _, err = build(
        capsys, "--seed", "seed.jsonl", "--size", "90", "--test-size", "0.25", "--language", "fr", "--output", "out"
    )
    assert code == 0, err
    return workdir / "out" / "v0.1.0"


def test_sft_and_preference_are_trl_shapes_row_for_row_in_grouped_splits(
    split_release: Path, teacher_env: FakeTeacher
) -> None:
    calls_after_build = teacher_env.log.requests
    ids: dict[str, set[str]] = {}
    total = 0
    for split in ("train", "test"):
        records = _load(split_release, "default", split)
        sft = _load(split_release, "sft", split)
        pairs = _load(split_release, "preference", split)
        assert records.features == RECORD_FEATURES
        assert sft.features == SFT_FEATURES and pairs.features == PREFERENCE_FEATURES
        assert len(records) == len(sft) == len(pairs) > 0
        for record, example, pair in zip(records, sft, pairs):
            # One user turn then one assistant turn (no system turn: the seed had none).
            assert _is_turn_list(example["messages"])
            assert example["messages"] == [
                {"role": "user", "content": record["instruction"]},
                {"role": "assistant", "content": record["improved_response"]},
            ]
            assert (example["reference_id"], example["feature"]) == (record["reference_id"], record["feature"])
            assert all(_is_turn_list(pair[key]) for key in ("prompt", "chosen", "rejected"))
            assert pair["prompt"] == [{"role": "user", "content": record["instruction"]}]
            assert pair["chosen"] == [{"role": "assistant", "content": record["improved_response"]}]
            assert pair["rejected"] == [{"role": "assistant", "content": record["response"]}]
            assert pair["reference_id"] == record["reference_id"]
        ids[split] = set(records["reference_id"])
        total += len(records)
        feedback_ids = set(_load(split_release, "feedback", split)["reference_id"])
        assert ids[split] <= feedback_ids
        ids[f"feedback-{split}"] = feedback_ids

    # Grouped by reference, in every config; --size stays the total.
    assert not ids["train"] & ids["test"] and not ids["feedback-train"] & ids["feedback-test"]
    assert total == 90
    test_rows = len(_load(split_release, "default", "test"))
    assert abs(test_rows - round(0.25 * 90)) <= 10  # whole references of up to 20 records each
    m = manifest(split_release)
    assert m["splits"]["rows"]["sft"] == {"train": 90 - test_rows, "test": test_rows}
    assert m["splits"]["test_references"] == len(ids["test"])
    assert m["split_statistics"]["test"]["records"] == test_rows
    assert teacher_env.log.requests == calls_after_build  # the training configs cost no teacher call


def test_card_metadata_and_sections(split_release: Path) -> None:
    card = DatasetCard.load(split_release / "README.md")
    meta = card.data.to_dict()
    assert meta["annotations_creators"] == ["machine-generated"]
    assert "machine-generated" in meta["language_creators"]
    assert meta["language"] == ["fr"] and meta["multilinguality"] == ["monolingual"]
    assert meta["task_categories"] == ["text-generation"]
    assert meta["task_ids"] and set(meta["task_ids"]) <= HUB_TEXT_GENERATION_TASK_IDS
    configs = {c["config_name"]: [f["split"] for f in c["data_files"]] for c in meta["configs"]}
    assert configs == {name: ["train", "test"] for name in ("default", "feedback", "sft", "preference")}
    m = manifest(split_release)
    info = {i["config_name"]: {s["name"]: s["num_examples"] for s in i["splits"]} for i in meta["dataset_info"]}
    assert info == m["splits"]["rows"]

    text = card.text
    assert "https://arxiv.org/abs/2502.04511" in text.split("## Citation")[0]  # a link the Hub reads, not the BibTeX
    for section in ("## Uses", "## Out-of-scope uses", "## Limitations and biases", "## Reproduce"):
        assert section in text
    assert "SFTTrainer(" in text and "DPOTrainer(" in text
    # No local path: the repo id when known, else a placeholder the card explains.
    assert 'load_dataset("ORG/NAME", "sft", revision="v0.1.0", split="train")' in text
    assert 'load_dataset("ORG/NAME", "preference", revision="v0.1.0", split="test")' in text
    assert "out/v0.1.0" not in text and "Replace `ORG/NAME`" in text
    assert "python -m refed_hf.build --recipe hf://datasets/ORG/NAME@v0.1.0/recipe.toml --output DIR" in text
    # The record example and its reference's feedback row, as YAML whose lines stay short.
    blocks = text.split("```yaml\n")[1:]
    assert len(blocks) == 2
    record, feedback = (yaml.safe_load(block.split("```")[0]) for block in blocks)
    assert record["reference_id"] == feedback["reference_id"] and "response_feedback" in feedback
    assert max(len(line) for block in blocks for line in block.split("```")[0].splitlines()) <= 100


def test_default_release_has_train_only_and_unchanged_default(teacher_env: FakeTeacher, workdir: Path, capsys) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=3)
    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "25", "--output", "out")
    assert code == 0, err
    release = workdir / "out" / "v0.1.0"
    assert sorted(p.name for p in (release / "data" / "default").iterdir()) == ["train-00000-of-00001.parquet"]
    assert datasets.load_dataset(str(release), split="train").features == RECORD_FEATURES
    assert len(_load(release, "sft", "train")) == len(_load(release, "preference", "train")) == 25
    meta = DatasetCard.load(release / "README.md").data.to_dict()
    assert all([f["split"] for f in c["data_files"]] == ["train"] for c in meta["configs"])


def test_split_choice_is_deterministic_grouped_and_seeded() -> None:
    ids = [f"ref-{i:02d}" for i in range(30) for _ in range(20)]  # 30 references x 20 records
    chosen = held_out_references(ids, 0.1, random_seed=7)
    assert chosen == held_out_references(list(reversed(ids)), 0.1, random_seed=7)  # not order-dependent
    assert sum(ids.count(rid) for rid in chosen) == 60
    assert held_out_references(ids, 0.1, random_seed=8) != chosen
    assert sum(ids.count(rid) for rid in held_out_references(ids, 100, random_seed=7)) == 100
    assert len(held_out_references(ids, 1, random_seed=7)) == 1  # below one reference's share: one reference
    assert held_out_references(ids, 0, random_seed=7) == set()
    # A reference's place does not depend on the others: a larger build keeps the smaller one's choice.
    smaller = held_out_references(ids[:200], 0.1, random_seed=7)
    assert smaller <= held_out_references(ids[:400], 0.2, random_seed=7)
    with pytest.raises(RecipeError, match="at least 2 references"):
        held_out_references(["only"] * 20, 0.5, random_seed=0)


def test_system_turn_from_the_feedback_table_comes_first() -> None:
    records = datasets.Dataset.from_dict(
        {
            "instruction": ["i1", "i2"],
            "response": ["r1", "r2"],
            "improved_response": ["b1", "b2"],
            "reference_id": ["a", "b"],
            "feature": ["skill", "subject"],
        }
    )
    feedback = datasets.Dataset.from_dict({"reference_id": ["a", "b"], "system": ["Answer in French.", ""]})
    tables = training_configs(records, feedback)
    assert tables["sft"][0]["messages"] == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "i1"},
        {"role": "assistant", "content": "b1"},
    ]
    assert tables["sft"][1]["messages"] == [{"role": "user", "content": "i2"}, {"role": "assistant", "content": "b2"}]
    assert tables["preference"][0]["prompt"] == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "i1"},
    ]
    assert tables["preference"][0]["rejected"] == [{"role": "assistant", "content": "r1"}]
    parts = split_by_reference({"sft": tables["sft"]}, {"b"})
    assert [row["reference_id"] for row in parts["sft"]["test"]] == ["b"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--test-size", "1.5"), "must be a fraction below 1 (e.g. 0.1) or a whole number of records"),
        (("--test-size", "30", "--size", "30"), "a count of test records must be below --size (30)"),
        (("--language", "English"), "must be a language code"),
    ],
)
def test_bad_split_and_language_flags(teacher_env: FakeTeacher, workdir: Path, capsys, args, message) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=2)
    code, _, err = build(capsys, "--seed", "seed.jsonl", "--output", "out", *args)
    assert code == 2 and message in err and err.count("\n") == 1
    assert teacher_env.log.requests == 0


def test_test_size_must_be_a_number(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build(capsys, "--test-size", "half")
    assert exit_info.value.code == 2 and "'half' is not a number" in capsys.readouterr().err


def test_one_reference_cannot_be_split_and_costs_nothing_twice(teacher_env: FakeTeacher, workdir: Path, capsys) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=1)
    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "10", "--test-size", "0.2", "--output", "out")
    assert code == 2 and "needs records from at least 2 references" in err
    assert not (workdir / "out" / "v0.1.0").exists()
    paid = teacher_env.log.requests
    assert build(capsys, "--seed", "seed.jsonl", "--size", "10", "--output", "out")[0] == 0
    assert teacher_env.log.requests == paid  # every answer came from the cache


def test_published_recipe_holds_no_local_path_endpoint_or_key() -> None:
    recipe = Recipe(
        seed="/home/someone/data/pairs.jsonl",
        base_url="http://10.0.0.5:8000/v1",
        output="/srv/out",
        teacher_gguf="/models/qwen-7b.gguf",
        teacher_model="qwen-7b",
        repo_id="org/name",
        test_size=0.2,
    )
    text = recipe_toml(recipe)
    fields = tomllib.loads(text)
    assert fields["seed"] == "pairs.jsonl" and fields["teacher_model"] == "qwen-7b" and fields["test_size"] == 0.2
    assert not {"base_url", "output", "teacher_gguf", "repo_id", "concurrency", "prices"} & set(fields)
    for private in ("/home/someone", "10.0.0.5", "/srv/out", "/models"):
        assert private not in text
    assert "local_context" in fields  # a local teacher's context shapes its answers
    assert tomllib.loads(recipe_toml(Recipe(seed="GAIR/lima")))["seed"] == "GAIR/lima"


# --- recipe.toml through the Hub emulator ---------------------------------------------------------

REPO = "refed-org/roundtrip"


def _data_digest(release: Path) -> dict[str, str]:
    return {
        p.relative_to(release).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((release / "data").rglob("*.parquet"))
    }


def test_recipe_round_trip_through_the_hub(
    teacher_env: FakeTeacher, workdir: Path, hub: FakeHub, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    seed = write_lima_seed(workdir / "seed.jsonl", single=8)
    code, _, err = build(
        capsys,
        "--seed",
        str(seed),
        "--size",
        "60",
        "--test-size",
        "0.3",
        "--random-seed",
        "3",
        "--temperature",
        "0.7",
        "--version",
        "1.0.0",
        "--output",
        "out",
        "--push",
        "--repo-id",
        REPO,
    )
    assert code == 0, err
    published = hub.files_at(REPO, "v1.0.0")
    recipe_text = published["recipe.toml"].decode()
    fields = tomllib.loads(recipe_text)
    assert fields["seed"] == "seed.jsonl" and fields["test_size"] == 0.3 and fields["random_seed"] == 3
    assert fields["temperature"] == 0.7 and fields["version"] == "1.0.0"
    for secret_or_local in (str(workdir), teacher_env.url, TEST_KEY, HUB_TOKEN):
        assert secret_or_local not in recipe_text
    assert not {"base_url", "output", "teacher_gguf", "repo_id"} & set(fields)
    card = published["README.md"].decode()
    reference = f"hf://datasets/{REPO}@v1.0.0/recipe.toml"
    assert f"python -m refed_hf.build --recipe {reference} --output DIR" in card

    # Rebuild elsewhere with only the cache of the first build: identical data, no teacher call.
    (workdir / "rebuilt").mkdir()
    shutil.copy(workdir / "out" / "cache.sqlite", workdir / "rebuilt" / "cache.sqlite")
    paid = teacher_env.log.requests
    # The published recipe names a local seed by its file name: a fetched recipe never reads a local
    # file on its own, the user passes their copy.
    code, _, err = build(capsys, "--recipe", reference, "--output", "rebuilt")
    assert code == 2 and "names a local seed 'seed.jsonl': pass your own copy with --seed PATH" in err, err
    code, out, err = build(capsys, "--recipe", reference, "--seed", "seed.jsonl", "--output", "rebuilt")
    assert code == 0, err
    assert teacher_env.log.requests == paid
    assert _data_digest(workdir / "rebuilt" / "v1.0.0") == _data_digest(workdir / "out" / "v1.0.0")
    assert (workdir / "rebuilt" / "v1.0.0" / "recipe.toml").read_text() == recipe_text

    for bad, message in (
        (f"hf://datasets/{REPO}@v9.9.9/recipe.toml", "has no revision 'v9.9.9'"),
        ("hf://datasets/refed-org/nothing@v1.0.0/recipe.toml", "no dataset repo refed-org/nothing"),
        (f"hf://datasets/{REPO}@v1.0.0/missing.toml", "has no file missing.toml"),
        ("hf://datasets/not-a-repo-id/recipe.toml", "bad --recipe"),
    ):
        code, _, err = build(capsys, "--recipe", bad, "--output", "rebuilt")
        assert code == 2 and message in err and err.count("\n") == 1, err


def test_unreachable_hub_is_one_line(workdir: Path) -> None:
    # HF_ENDPOINT is read at import time: a child process with a port nothing listens on.
    proc = build_process(
        {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(workdir / "hf")},
        workdir,
        "--recipe",
        "hf://datasets/org/name@v1.0.0/recipe.toml",
        "--output",
        "out",
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert (
        err.startswith("error: cannot reach the Hub to fetch hf://datasets/org/name@v1.0.0/recipe.toml")
        and err.count("\n") == 1
    )
