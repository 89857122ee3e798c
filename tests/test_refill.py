"""Continuous refill: the same release whatever the concurrency or a kill, exact size under every filter,
feedback only where asked, and a small build that stays small."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import datasets
import pytest

from tests.conftest import TEST_KEY
from tests.fakes.seeds import write_lima_seed
from tests.fakes.teacher import FakeTeacher, TeacherFaults
from tests.helpers import build, build_process, manifest

# Bad data of every kind the filters catch, and latencies spread wide so calls finish out of order.
BAD = dict(
    latency=0.01,
    jitter_sigma=1.0,
    rate_duplicate=0.15,
    rate_seed_copy=0.1,
    rate_refusal=0.1,
    rate_refusal_field=0.05,
    rate_truncated=0.1,
)


def _tables(release: Path) -> dict[str, list[dict]]:
    return {
        config: datasets.load_dataset(str(release), config, split="train").to_list()
        for config in ("default", "feedback")
    }


def _content(m: dict) -> dict:
    """The parts of a manifest that describe the release, not the run that built it."""
    return {
        "records": m["records"],
        "references_used": m["references_used"],
        "feedback_rows": m["feedback_rows"],
        "stages": {stage: (c["in"], c["out"], c["failed"]) for stage, c in m["stages"].items()},
        "filters": m["filters"],
    }


def test_the_same_release_at_concurrency_64_and_5(workdir: Path, capsys, monkeypatch) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=30)
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    releases = {}
    for concurrency in ("64", "5"):
        fake = FakeTeacher(TeacherFaults(**BAD)).start()  # a fresh teacher and cache each: no answer shared
        try:
            code, _, err = build(
                capsys,
                *("--seed", "seed.jsonl", "--size", "90", "--output", f"out-{concurrency}"),
                *("--concurrency", concurrency, "--base-url", fake.url),
            )
        finally:
            fake.stop()
        assert code == 0, err
        releases[concurrency] = workdir / f"out-{concurrency}" / "v0.1.0"
    wide, narrow = (_tables(releases[c]) for c in ("64", "5"))
    assert len(wide["default"]) == 90 and sum(manifest(releases["64"])["filters"]["dropped"].values()) > 10
    assert wide == narrow
    content = _content(manifest(releases["64"]))
    assert content["stages"]["responses"][2] and content["filters"]["api_refusals"]  # the faults above count
    assert content == _content(manifest(releases["5"]))


def test_killed_mid_way_and_resumed_gives_the_records_of_a_straight_build(tmp_path: Path) -> None:
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    args = ("--seed", "seed.jsonl", "--size", "80", "--output", "out", "--concurrency", "8")
    for folder in (killed, straight):
        write_lima_seed(folder / "seed.jsonl", single=20)
    fake = FakeTeacher(TeacherFaults(**{**BAD, "latency": 0.03})).start()
    try:
        env = {"OPENAI_API_KEY": TEST_KEY, "OPENAI_BASE_URL": fake.url}
        proc = build_process(env, killed, *args)
        deadline = time.monotonic() + 120
        while sum(fake.log.answered.values()) < 60 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        assert (killed / "out" / "cache.sqlite").stat().st_size > 0 and sum(fake.log.answered.values()) >= 60
        resumed = build_process(env, killed, *args)
        assert resumed.wait(timeout=300) == 0, resumed.communicate()[1]
    finally:
        fake.stop()
    fresh = FakeTeacher(TeacherFaults(**{**BAD, "latency": 0.03})).start()
    try:
        proc = build_process({"OPENAI_API_KEY": TEST_KEY, "OPENAI_BASE_URL": fresh.url}, straight, *args)
        assert proc.wait(timeout=300) == 0, proc.communicate()[1]
    finally:
        fresh.stop()
    assert _tables(killed / "out" / "v0.1.0") == _tables(straight / "out" / "v0.1.0")
    assert len(_tables(straight / "out" / "v0.1.0")["default"]) == 80


@pytest.mark.parametrize("kept_on", ["near_duplicate", "seed_leakage", "refusal", "length"])
def test_exact_size_under_each_filter(workdir: Path, capsys, monkeypatch, kept_on: str) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=20)
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    off = {
        "near_duplicate": ["--dedup-threshold", "off"],
        "seed_leakage": ["--no-seed-leakage-filter"],
        "refusal": ["--no-refusal-filter"],
        "length": ["--no-length-filter"],
    }
    others = [flag for name, flags in off.items() if name != kept_on for flag in flags]
    fake = FakeTeacher(TeacherFaults(**BAD)).start()
    try:
        code, _, err = build(
            capsys, "--seed", "seed.jsonl", "--size", "55", "--output", "out", "--base-url", fake.url, *others
        )
    finally:
        fake.stop()
    assert code == 0, err
    m = manifest(workdir / "out" / "v0.1.0")
    assert m["records"] == 55 == len(datasets.load_dataset(str(workdir / "out" / "v0.1.0"), split="train"))
    dropped = m["filters"]["dropped"]
    assert dropped[kept_on] > 0 and sum(dropped.values()) == dropped[kept_on]  # the others were off


def test_feedback_scope_all_covers_every_reference(teacher_env: FakeTeacher, workdir: Path, capsys) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=9)
    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "25", "--output", "out", "--feedback-scope", "all")
    assert code == 0, err
    release = workdir / "out" / "v0.1.0"
    feedback = datasets.load_dataset(str(release), "feedback", split="train")
    m = manifest(release)
    assert len(feedback) == 9 == m["feedback_rows"] and m["references_used"] == 2
    assert m["feedback_scope"] == "all" and m["stages"]["feedback"]["in"] == 9
    assert "every reference of the seed" in (release / "README.md").read_text()
    # The records are those of the default scope: only the feedback config grows.
    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "25", "--output", "used")
    assert code == 0, err
    used = workdir / "used" / "v0.1.0"
    assert _tables(used)["default"] == _tables(release)["default"]
    assert len(_tables(used)["feedback"]) == 2 and manifest(used)["feedback_scope"] == "used"
    assert "only for the references the records were drawn" in (used / "README.md").read_text()


def test_a_small_build_is_small(teacher_env: FakeTeacher, workdir: Path, capsys) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=300)
    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "20", "--output", "out")
    assert code == 0, err
    m = manifest(workdir / "out" / "v0.1.0")
    # 20 responses and 20 improvements, and the feedback and instructions of the one reference used:
    # nothing for the other 299.
    assert m["records"] == 20 and m["references_used"] == 1
    assert teacher_env.log.requests == 2 + 2 + 20 * 2
    assert m["refill"]["speculative_calls"] == 0 and m["refill"]["first_record_s"] > 0
