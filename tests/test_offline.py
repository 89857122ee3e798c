"""The offline default: the embedded llama.cpp teacher with the real SmolLM2 weights and the bundled seed."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import datasets
import pytest

from refed_hf.builder.seed import DEMO_SEED_FILE
from refed_hf.features import RECORD_FEATURES
from refed_hf.prompt_sets import feedback_features, prompt_set_named
from refed_hf.schemas import Record
from tests.helpers import build, build_process


def _local_servers(parent: int) -> list[int]:
    """Pids of embedded teacher processes started by `parent` that are still alive."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"refed_hf.teacher.local_server" in cmdline and str(parent).encode() in cmdline:
            state = (entry / "stat").read_text().split()[2]
            if state != "Z":
                found.append(int(entry.name))
    return found


def _demo_slice(folder: Path, rows: int) -> Path:
    """The first rows of the bundled reference set, so the test's run is a few dozen calls."""
    lines = DEMO_SEED_FILE.read_text(encoding="utf-8").splitlines()[:rows]
    path = folder / "demo-slice.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_bundled_seed_is_varied_and_usable() -> None:
    rows = [json.loads(line) for line in DEMO_SEED_FILE.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 30 and len({r["instruction"] for r in rows}) == len(rows)
    assert all(len(r["response"]) > 40 for r in rows)


@pytest.mark.slow
def test_offline_build_with_the_real_small_model(tmp_path: Path) -> None:
    seed = _demo_slice(tmp_path, rows=5)
    # The filters off: this checks the local teacher's plumbing, and the tiny model's near-identical
    # instructions and one-word improvements would be dropped and replaced from further references.
    proc = build_process(
        {"OPENAI_API_KEY": ""},
        tmp_path,
        "--offline",
        "--seed",
        str(seed),
        "--size",
        "3",
        "--output",
        "out",
        "--dedup-threshold",
        "off",
        "--no-seed-leakage-filter",
        "--no-refusal-filter",
        "--no-length-filter",
    )
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    release = tmp_path / "out" / "v0.1.0"
    records = datasets.load_dataset(str(release), split="train")
    feedback = datasets.load_dataset(str(release), "feedback", split="train")
    assert records.features == RECORD_FEATURES and feedback.features == feedback_features(prompt_set_named("concise"))
    assert len(records) == 3
    for row in records:
        Record.model_validate(row)
    manifest = json.loads((release / "manifest.json").read_text())
    assert manifest["offline_demo"] is True and manifest["recipe"]["teacher_model"] == "SmolLM2-135M-Instruct"
    assert "not for training" in (release / "README.md").read_text()
    assert _local_servers(proc.pid) == []


@pytest.mark.slow
def test_interrupted_offline_build_leaves_no_server(tmp_path: Path) -> None:
    seed = _demo_slice(tmp_path, rows=3)
    for stop in (signal.SIGINT, signal.SIGKILL):
        proc = build_process({}, tmp_path, "--offline", "--seed", str(seed), "--size", "3", "--output", f"out-{stop}")
        deadline = time.monotonic() + 120
        while not _local_servers(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _local_servers(proc.pid), "the embedded teacher never started"
        time.sleep(1.0)
        proc.send_signal(stop)
        proc.communicate(timeout=60)
        deadline = time.monotonic() + 20
        while _local_servers(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _local_servers(proc.pid) == [], f"a server outlived the build after {stop.name}"


@pytest.mark.parametrize("content", [None, b"not a model at all"])
def test_teacher_gguf_must_be_a_gguf_file(content: bytes | None, workdir: Path, capsys) -> None:
    model = workdir / "model.gguf"
    if content is not None:
        model.write_bytes(content)
    code, _, err = build(capsys, "--teacher-gguf", str(model), "--seed", "demo", "--size", "2", "--output", "out")
    assert code == 2
    expected = "is not a GGUF model file" if content else "no such file"
    assert expected in err and len(err.strip().splitlines()) == 1
    assert not (workdir / "out").exists()
