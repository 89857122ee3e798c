"""Seeds from the Hub emulator with the real clients: the default GAIR/lima-shaped gated repo with a
loading script, pinned revisions, configs, and every error a user can fix; and what is published
names the seed exactly without a local path or an endpoint URL."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import datasets
import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib
from huggingface_hub import DatasetCard

from tests.conftest import HUB_TOKEN, TEST_KEY
from tests.fakes.hub import FakeHub
from tests.fakes.seeds import jsonl, lima_repo_files, write_lima_seed
from tests.fakes.teacher import FakeTeacher
from tests.helpers import build, build_process, manifest

OTHER_TOKEN = "hf_other_user_token_0123456789"

# Tests that read every seed row back through config feedback ask for feedback on every reference.
EVERY = ("--feedback-scope", "all")


def _chat(system: str, user: str, assistant: str) -> dict[str, object]:
    turns = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": user},
        {"role": "assistant", "content": assistant},
    ]
    return {"messages": turns}


TWO_CONFIGS_CARD = """---
license: apache-2.0
configs:
- config_name: alpaca
  data_files:
  - split: train
    path: alpaca/train.jsonl
- config_name: chat
  data_files:
  - split: train
    path: chat/train.jsonl
  - split: test
    path: chat/test.jsonl
---
# Two configs
"""


@pytest.fixture(scope="module")
def seeds_hub(hub: FakeHub) -> dict[str, str]:
    """Repos on the emulator (the hub lives for the session: each is made once); their commit shas."""
    hub.tokens[OTHER_TOKEN] = "someone"
    shas: dict[str, str] = {}
    if "GAIR/lima" not in hub.repos:
        shas["lima"] = hub.add_repo("GAIR/lima", lima_repo_files(), gated="auto")
    else:
        shas["lima"] = hub.repos["GAIR/lima"].branches["main"]
    shas["two"] = hub.add_repo(
        "seed-org/two-configs",
        {
            "README.md": TWO_CONFIGS_CARD.encode(),
            "alpaca/train.jsonl": jsonl([{"instruction": "Summarize.", "input": "Long text.", "output": "Short."}]),
            "chat/train.jsonl": jsonl(
                [_chat("Reply as a poet.", f"Describe season {i}.", f"Season {i}, in verse.") for i in range(4)]
                + [_chat("", "Hi", "Hello"), _chat("", "Hi", "Hello")]
            ),
            "chat/test.jsonl": jsonl([_chat("", "T", "U")]),
        },
    )
    shas["pinned-v1"] = hub.add_repo(
        "seed-org/pinned",
        {
            "README.md": b"---\nlicense: cc0-1.0\n---\n",
            "train.jsonl": jsonl([{"prompt": f"P{i}", "completion": f"C{i}"} for i in range(3)]),
        },
    )
    hub.add_tag("seed-org/pinned", "v1.0", shas["pinned-v1"])
    shas["pinned-main"] = hub.add_commit(
        "seed-org/pinned",
        {"train.jsonl": jsonl([{"prompt": f"P{i}", "completion": f"C{i}"} for i in range(5)])},
        "more rows",
    )
    hub.add_repo(
        "seed-org/secret",
        {"train.jsonl": jsonl([{"prompt": "p", "completion": "c"}])},
        private=True,
        readers={"tester"},
    )
    hub.add_repo(
        "seed-org/members-only",
        {"README.md": b"# members\n", "train.jsonl": jsonl([{"prompt": "p", "completion": "c"}])},
        gated="manual",
        accepted={"tester"},
    )
    return shas


def _error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_default_seed_is_the_gated_lima_repo(
    seeds_hub: dict[str, str], teacher_env: FakeTeacher, workdir: Path, capsys, caplog, monkeypatch
) -> None:
    # Without a token: one line about the gating and the fix, before any teacher call.
    monkeypatch.setenv("HF_HOME", str(workdir / "no-login"))
    code, _, err = build(capsys, "--size", "20", "--output", "out")
    line = _error_line(err)
    assert code == 2 and "GAIR/lima is a gated dataset" in line and "accept its terms" in line
    assert "HF_TOKEN" in line and "hf auth login" in line
    assert teacher_env.log.requests == 0 and not (workdir / "out" / "cache.sqlite").exists()

    # The real `datasets` refuses the repo's loading script (the emulator is faithful to that) ...
    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    with pytest.raises(RuntimeError, match="Dataset scripts are no longer supported, but found lima.py"):
        datasets.load_dataset("GAIR/lima", split="train")
    # ... and the build reads its data files at the resolved sha instead.
    code, out, err = build(capsys, "--size", "20", "--output", "out")
    assert code == 0, err
    assert "holds a loading script (lima.py)" in caplog.text and "records:      20" in out
    release = workdir / "out" / "v0.1.0"
    seed = manifest(release)["seed"]
    assert (seed["rows"], seed["kept"], seed["dropped"]) == (1030, 1000, {"multi_turn": 30})
    assert seed["sha"] == seeds_hub["lima"] and seed["revision"] == "main" and seed["gated"] is True
    assert seed["shape"] == "lima" and seed["license"] == "other" and seed["feedback_text"] is False
    card = (release / "README.md").read_text(encoding="utf-8")
    assert (
        f"`GAIR/lima` at commit `{seeds_hub['lima']}`" in card
        and "its license is `other` (as its Hub card declares it)" in card
    )
    assert "does **not** republish the seed's texts (the seed is gated" in card
    assert DatasetCard(card).data.to_dict()["source_datasets"] == ["GAIR/lima"]
    # A gated seed's texts are not republished; where each reference is in the seed is.
    feedback = datasets.load_dataset(str(release), "feedback", split="train")
    # Feedback for the one reference the 20 records were drawn from, not for the other 999.
    assert len(feedback) == 1 and set(feedback["instruction"]) == {""} and set(feedback["response"]) == {""}
    assert set(feedback["seed_split"]) == {"train"} and 0 <= feedback["seed_row"][0] < 1030
    assert feedback[0]["response_feedback"].strip()  # the paper set's prose
    assert teacher_env.log.requests == 2 + 2 + 20 * 2


def test_gated_without_accepted_terms_private_and_missing_repos(
    seeds_hub: dict[str, str], teacher_env: FakeTeacher, workdir: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", OTHER_TOKEN)  # a valid account that did not accept the terms: 403
    code, _, err = build(capsys, "--seed", "seed-org/members-only", "--size", "5", "--output", "out")
    assert code == 2 and "seed-org/members-only is a gated dataset" in _error_line(err)
    for repo in ("seed-org/secret", "seed-org/does-not-exist"):
        code, _, err = build(capsys, "--seed", repo, "--size", "5", "--output", "out")
        assert code == 2 and f"seed {repo} was not found on the Hub" in _error_line(err) and "private" in err
    assert teacher_env.log.requests == 0


def test_pinned_revision_reads_that_commit(
    seeds_hub: dict[str, str], hub: FakeHub, teacher_env: FakeTeacher, workdir: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    code, _, err = build(
        capsys, "--seed", "seed-org/pinned", "--seed-revision", "v2.0", "--size", "5", "--output", "out", *EVERY
    )
    line = _error_line(err)
    assert code == 2 and "has no revision 'v2.0'" in line and "branches ['main'], tags ['v1.0']" in line
    code, _, err = build(
        capsys, "--seed", "seed-org/pinned", "--seed-revision", "v1.0", "--size", "5", "--output", "out", *EVERY
    )
    assert code == 0, err
    seed = manifest(workdir / "out" / "v0.1.0")["seed"]
    assert seed["sha"] == seeds_hub["pinned-v1"] and seed["revision"] == "v1.0" and seed["rows"] == 3
    # A public seed's texts are republished (auto), in the shape prompt/completion.
    feedback = datasets.load_dataset(str(workdir / "out" / "v0.1.0"), "feedback", split="train")
    assert sorted(feedback["instruction"]) == ["P0", "P1", "P2"] and seed["shape"] == "prompt/completion"
    code, _, err = build(
        capsys, "--seed", "seed-org/pinned", "--size", "5", "--output", "out", "--version", "0.2.0", *EVERY
    )
    assert code == 0, err
    seed = manifest(workdir / "out" / "v0.2.0")["seed"]
    assert seed["sha"] == seeds_hub["pinned-main"] and seed["rows"] == 5
    # The published recipe pins the commit read, not the branch: a rebuild from it reads the same rows
    # even though `main` moves on.
    published = tomllib.loads((workdir / "out" / "v0.2.0" / "recipe.toml").read_text(encoding="utf-8"))
    assert published["seed"] == "seed-org/pinned" and published["seed_revision"] == seeds_hub["pinned-main"]
    hub.add_commit("seed-org/pinned", {"train.jsonl": b'{"prompt": "later", "completion": "row"}\n'}, "move main")
    code, _, err = build(
        capsys, "--recipe", str(workdir / "out" / "v0.2.0" / "recipe.toml"), "--output", "out", "--version", "0.3.0"
    )
    assert code == 0, err
    assert manifest(workdir / "out" / "v0.3.0")["seed"]["sha"] == seeds_hub["pinned-main"]


def test_configs_and_splits(
    seeds_hub: dict[str, str], teacher_env: FakeTeacher, workdir: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    base = ["--seed", "seed-org/two-configs", "--size", "5", "--output", "out", *EVERY]
    code, _, err = build(capsys, *base)
    assert (
        code == 2
        and "has several configs ['alpaca', 'chat'] and no default: pass one to --seed-config" in _error_line(err)
    )
    code, _, err = build(capsys, *base, "--seed-config", "nope")
    assert code == 2 and "has no config 'nope'; it has ['alpaca', 'chat']" in _error_line(err)
    code, _, err = build(capsys, *base, "--seed-config", "chat", "--seed-split", "validation")
    assert code == 2 and "has no split 'validation'" in _error_line(err) and "['train', 'test']" in err
    assert teacher_env.log.requests == 0

    # Chat messages from the emulator: the system turn is kept, shown to the teacher and published.
    code, _, err = build(capsys, *base, "--seed-config", "chat")
    assert code == 0, err
    release = workdir / "out" / "v0.1.0"
    seed = manifest(release)["seed"]
    assert seed["config"] == "chat" and seed["shape"] == "chat messages" and seed["dropped"] == {"duplicate": 1}
    assert seed["license"] == "apache-2.0" and seed["sha"] == seeds_hub["two"]
    feedback = datasets.load_dataset(str(release), "feedback", split="train").sort("seed_row")
    assert feedback["system"] == ["Reply as a poet."] * 4 + [""]
    assert feedback["instruction"][0] == "Describe season 0." and feedback["seed_row"] == [0, 1, 2, 3, 4]
    assert any("Reply as a poet." in p and "Describe season 0." in p for p in teacher_env.log.prompts)


def test_unreachable_hub_is_one_line(teacher_env: FakeTeacher, workdir: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    child = build_process(
        {"HF_ENDPOINT": f"http://127.0.0.1:{closed}", "HF_TOKEN": HUB_TOKEN},
        workdir,
        "--seed",
        "GAIR/lima",
        "--size",
        "5",
        "--output",
        "out",
    )
    _, err = child.communicate(timeout=120)
    line = _error_line(err)
    assert child.returncode == 2 and "cannot reach the Hugging Face Hub" in line and "works offline" in line
    assert teacher_env.log.requests == 0


def test_nothing_published_holds_a_local_path_or_the_endpoint(
    teacher_env: FakeTeacher, hub: FakeHub, workdir: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    monkeypatch.delenv("OPENAI_BASE_URL")  # given as a flag instead, as a user with an internal server would
    seed_file = write_lima_seed(workdir / "private-data" / "my-pairs.jsonl", single=4)
    output = workdir / "build-output"
    code, out, err = build(
        capsys,
        "--seed",
        str(seed_file),
        "--output",
        str(output),
        "--base-url",
        teacher_env.url,
        "--teacher-model",
        "internal-model",
        "--size",
        "10",
        *EVERY,
        "--license",
        "cc-by-4.0",
        "--push",
        "--repo-id",
        "refed-org/clean",
    )
    assert code == 0, err
    published = hub.files_at("refed-org/clean", "main")
    text = "\n".join(content.decode("utf-8", errors="ignore") for content in published.values())
    host = teacher_env.url.split("//", 1)[1].split("/", 1)[0]
    for secret in (
        str(workdir),
        str(output),
        str(seed_file),
        "private-data",
        "build-output",
        teacher_env.url,
        host,
        TEST_KEY,
        HUB_TOKEN,
        os.path.expanduser("~"),
    ):
        assert secret not in text, secret
    card = DatasetCard(published["README.md"].decode())
    meta = card.data.to_dict()
    assert meta["license"] == "cc-by-4.0" and "source_datasets" not in meta
    seed_sha = manifest(output / "v0.1.0")["seed"]["sha256"]
    assert f"a local file, `my-pairs.jsonl`, sha256 `{seed_sha}`" in card.text
    assert "an OpenAI-compatible server serving internal-model" in card.text
    assert "its license is unknown (a local seed)" in card.text and "this release: `cc-by-4.0`" in card.text
    published_manifest = json.loads(published["manifest.json"])
    assert published_manifest["recipe"]["seed"] == "my-pairs.jsonl" and "output" not in published_manifest["recipe"]
    assert published_manifest["teacher"]["endpoint"] == "an OpenAI-compatible server serving internal-model"
    # A local seed's texts are republished unless --feedback-text omit says otherwise.
    local = datasets.load_dataset(str(output / "v0.1.0"), "feedback", split="train")
    assert all(local["instruction"]) and published_manifest["seed"]["feedback_text"] is True
    code, _, err = build(
        capsys,
        "--seed",
        str(seed_file),
        "--output",
        str(output),
        "--base-url",
        teacher_env.url,
        "--size",
        "10",
        "--version",
        "0.2.0",
        "--feedback-text",
        "omit",
        *EVERY,
    )
    assert code == 0, err
    omitted = datasets.load_dataset(str(output / "v0.2.0"), "feedback", split="train")
    assert set(omitted["instruction"]) == {""} and sorted(omitted["seed_row"]) == [0, 1, 2, 3]
    assert omitted["reference_id"] == local["reference_id"]
