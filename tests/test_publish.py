"""Publishing to the Hub emulator with the real `huggingface_hub` and `datasets` clients."""

from __future__ import annotations

import logging
from pathlib import Path

import datasets
import pytest
from huggingface_hub import DatasetCard

from refed_hf.features import RECORD_FEATURES
from refed_hf.prompt_sets import feedback_features, prompt_set_named
from tests.conftest import HUB_TOKEN, TEST_KEY
from tests.fakes.hub import FakeHub
from tests.fakes.seeds import write_lima_seed
from tests.fakes.teacher import FakeTeacher
from tests.helpers import build

REPO = "refed-org/refed"


def _push(capsys, *args: str) -> tuple[int, str, str]:
    return build(capsys, "--seed", "seed.jsonl", "--output", "out", "--push", "--repo-id", REPO, *args)


@pytest.fixture
def publishing(teacher_env: FakeTeacher, workdir: Path, hub: FakeHub, monkeypatch) -> FakeHub:
    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    write_lima_seed(workdir / "seed.jsonl", single=6)
    return hub


def test_versions_are_published_tagged_and_pinned(publishing: FakeHub, workdir: Path, capsys, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    code, out1, err = _push(capsys, "--size", "20", "--version", "1.0.0")
    assert code == 0, err
    assert "published refed-org/refed v1.0.0" in out1
    code, out2, err = _push(capsys, "--size", "30", "--version", "1.1.0")
    assert code == 0, err

    for tag, size in (("v1.0.0", 20), ("v1.1.0", 30)):
        records = datasets.load_dataset(REPO, revision=tag, split="train")
        feedback = datasets.load_dataset(REPO, "feedback", revision=tag, split="train")
        local = datasets.load_dataset(str(workdir / "out" / tag), split="train")
        assert len(records) == size and records.features == RECORD_FEATURES
        # Feedback for the references the records were drawn from: 20 records per reference.
        assert feedback.features == feedback_features(prompt_set_named("paper")) and len(feedback) == -(-size // 20)
        assert records.to_list() == local.to_list()
    state = publishing.snapshot(REPO)
    assert state["branches"]["main"] == state["tags"]["v1.1.0"] != state["tags"]["v1.0.0"]
    assert publishing.files_at(REPO, "main") == publishing.files_at(REPO, "v1.1.0")
    # The local release is exactly what was published.
    published = publishing.files_at(REPO, "v1.1.0")
    local_files = {
        p.relative_to(workdir / "out" / "v1.1.0").as_posix(): p.read_bytes()
        for p in (workdir / "out" / "v1.1.0").rglob("*")
        if p.is_file()
    }
    assert published == local_files

    card = DatasetCard.load(REPO, repo_type="dataset")
    meta = card.data.to_dict()
    assert meta["license"] == "cc-by-nc-4.0" and meta["language"] == ["en"]
    assert meta["task_categories"] == ["text-generation"] and meta["size_categories"] == ["n<1K"]
    assert "source_datasets" not in meta  # a local seed has no Hub id to name
    assert set(meta["tags"]) == {"synthetic", "instruction-tuning", "reference-level-feedback"}
    assert {c["config_name"] for c in meta["configs"]} == {"default", "feedback", "sft", "preference"}
    info = {i["config_name"]: i for i in meta["dataset_info"]}
    assert info["default"]["splits"][0]["num_examples"] == 30 and info["feedback"]["splits"][0]["num_examples"] == 2
    history = card.text[card.text.index("## Release history") :]
    assert history.index("| v1.1.0 |") < history.index("| v1.0.0 |")
    assert 'load_dataset("refed-org/refed", revision="v1.1.0", split="train")' in card.text

    everything = (
        out1
        + out2
        + err
        + caplog.text
        + "".join(
            p.read_text(errors="ignore") for p in (workdir / "out").rglob("*") if p.is_file() and p.suffix != ".sqlite"
        )
    )
    assert HUB_TOKEN not in everything and TEST_KEY not in everything


def test_existing_tag_is_refused_unless_identical(publishing: FakeHub, workdir: Path, capsys) -> None:
    assert _push(capsys, "--size", "20", "--version", "2.0.0", "--repo-id", "refed-org/tags")[0] == 0
    before = publishing.snapshot("refed-org/tags")

    code, out, err = _push(capsys, "--size", "20", "--version", "2.0.0", "--repo-id", "refed-org/tags")
    assert code == 0 and "nothing to publish: v2.0.0 is already published with this content" in out

    code, out, err = _push(capsys, "--size", "25", "--version", "2.0.0", "--repo-id", "refed-org/tags")
    assert code == 2 and "already published on refed-org/tags with different content" in err
    code, out, err = _push(capsys, "--size", "25", "--version", "1.9.0", "--repo-id", "refed-org/tags")
    assert code == 2 and "v1.9.0 is lower than v2.0.0" in err
    assert publishing.snapshot("refed-org/tags") == before


def test_failed_commit_tags_nothing_and_failed_tag_is_finished_by_a_rerun(
    publishing: FakeHub, workdir: Path, capsys
) -> None:
    repo = "refed-org/faults"
    assert _push(capsys, "--size", "20", "--version", "1.0.0", "--repo-id", repo)[0] == 0
    before = publishing.snapshot(repo)

    publishing.faults.fail_next_commit = True
    code, _, err = _push(capsys, "--size", "20", "--version", "1.1.0", "--repo-id", repo)
    assert code == 2 and "nothing was tagged" in err
    assert publishing.snapshot(repo) == before

    publishing.faults.fail_next_tag = True
    code, _, err = _push(capsys, "--size", "20", "--version", "1.1.0", "--repo-id", repo)
    assert code == 2 and "rerun the same command to tag it" in err
    after_commit = publishing.snapshot(repo)
    assert len(after_commit["commits"]) == len(before["commits"]) + 1 and "v1.1.0" not in after_commit["tags"]

    code, out, err = _push(capsys, "--size", "20", "--version", "1.1.0", "--repo-id", repo)
    assert code == 0, err
    final = publishing.snapshot(repo)
    assert final["commits"] == after_commit["commits"]  # no second commit
    assert final["tags"]["v1.1.0"] == final["branches"]["main"]


def test_missing_or_rejected_token_changes_nothing(publishing: FakeHub, workdir: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setenv("HF_HOME", str(workdir / "empty-hf-home"))  # no `hf auth login` token either
    code, _, err = _push(capsys, "--size", "20", "--version", "1.0.0", "--repo-id", "refed-org/tokens")
    assert code == 2 and "no Hugging Face token" in err
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_token_value")
    code, _, err = _push(capsys, "--size", "20", "--version", "1.0.0", "--repo-id", "refed-org/tokens")
    assert code == 2 and "the Hub rejected the token" in err and "hf_wrong_token_value" not in err
    assert "refed-org/tokens" not in publishing.repos


def test_dry_run_touches_nothing_remote(publishing: FakeHub, workdir: Path, capsys) -> None:
    code, out, err = build(
        capsys,
        "--seed",
        "seed.jsonl",
        "--output",
        "out",
        "--dry-run",
        "--repo-id",
        "refed-org/dry",
        "--size",
        "20",
        "--version",
        "1.0.0",
    )
    assert code == 0, err
    assert (
        "dry run: nothing is changed on the Hub" in out and "add     data/default/train-00000-of-00001.parquet" in out
    )
    assert "tag:     v1.0.0" in out and "refed-org/dry" not in publishing.repos
