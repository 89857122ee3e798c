"""End to end: the real CLI against the fake teacher, releases opened with `load_dataset`."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from refed_hf.features import RECORD_FEATURES
from refed_hf.prompt_sets import feedback_features, prompt_set_named
from refed_hf.teacher.prices import Usage, prices_for
from tests.conftest import TEST_KEY
from tests.fakes.seeds import lima_rows, write_lima_seed
from tests.fakes.teacher import FakeTeacher, TeacherFaults
from tests.helpers import build, manifest, running_teacher, set_env, user_env


def _records(release: Path) -> list[dict]:
    return datasets.load_dataset(str(release), split="train").to_list()


def test_end_to_end_exact_size_typed_configs_and_counts(teacher_env: FakeTeacher, workdir: Path, capsys) -> None:
    rows = lima_rows(single=12, multi=4)
    rows.append({"conversations": ["   ", "an answer to nothing"], "source": "test"})
    rows.append(dict(rows[0]))  # a duplicate reference
    (workdir / "seed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    code, out, err = build(capsys, "--seed", "seed.jsonl", "--size", "45", "--output", "out")
    assert code == 0, err
    release = workdir / "out" / "v0.1.0"
    assert "release:      out/v0.1.0" in out and "records:      45" in out

    records = datasets.load_dataset(str(release), split="train")
    feedback = datasets.load_dataset(str(release), "feedback", split="train")
    assert len(records) == 45
    assert records.features == RECORD_FEATURES
    assert feedback.features == feedback_features(prompt_set_named("paper"))  # the default prompt set
    # Feedback is written only for the three references the records were drawn from.
    assert len(feedback) == 3
    assert set(records["reference_id"]) == set(feedback["reference_id"])
    assert set(records["feature"]) == {"subject", "skill"}
    assert set(records["teacher_model"]) == {"gpt-4o-mini"}
    assert all(row["improved_response"] and row["analysis"]["original_strengths"] for row in records)

    m = manifest(release)
    assert {k: m["seed"][k] for k in ("source", "rows", "kept", "dropped")} == {
        "source": "seed.jsonl",
        "rows": 18,
        "kept": 12,
        "dropped": {"multi_turn": 4, "empty": 1, "duplicate": 1},
    }
    # 45 records = 20 + 20 + 5 from three references; the third splits 3 subject + 2 skill.
    assert m["references_used"] == 3
    stages = m["stages"]
    assert stages["feedback"] == {"in": 3, "out": 3, "failed": {}}
    assert stages["instructions"] == {"in": 6, "out": 45, "failed": {}}
    assert stages["responses"] == {"in": 45, "out": 45, "failed": {}}
    assert stages["improvements"] == {"in": 45, "out": 45, "failed": {}}
    fake = teacher_env.log
    assert dict(fake.by_schema) == {
        "InstructionDescription": 3,
        "ProseFeedback": 3,
        "GeneratedInstructions": 6,
        "GeneratedResponse": 45,
        "Improvement": 45,
    }
    run = m["teacher"]["this_run"]
    assert run["answers"] == run["requests"] == fake.requests == 102
    assert run["cache_hits"] == 0
    assert 0 < run["cached_tokens"] < run["prompt_tokens"]
    assert m["estimated_cost_usd"] == pytest.approx(
        prices_for("gpt-4o-mini").cost(Usage(run["prompt_tokens"], run["cached_tokens"], run["completion_tokens"])),
        abs=1e-6,
    )
    assert m["cached_share"] == pytest.approx(run["cached_tokens"] / run["prompt_tokens"], abs=1e-4)
    assert m["statistics"]["per_feature"] == {"skill": 22, "subject": 23}
    assert m["prompt_set"]["hash"] and m["library_versions"]["datasets"] == datasets.__version__
    assert TEST_KEY not in (release / "manifest.json").read_text() + (release / "README.md").read_text()


def test_larger_size_reuses_every_answer(teacher_env: FakeTeacher, workdir: Path, capsys) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=6)
    assert build(capsys, "--seed", "seed.jsonl", "--size", "20", "--output", "out")[0] == 0
    first = teacher_env.log.requests
    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "30", "--output", "out", "--version", "0.2.0")
    assert code == 0, err
    m = manifest(workdir / "out" / "v0.2.0")
    # Only the second reference's 10 records are new: its feedback (2 calls: the smaller build did not
    # need it), 2 instruction calls, 10 responses, 10 improvements.
    assert teacher_env.log.requests - first == 24
    assert m["teacher"]["this_run"]["cache_hits"] == first
    first_records = _records(workdir / "out" / "v0.1.0")
    assert _records(workdir / "out" / "v0.2.0")[:20] == first_records


def test_faults_do_not_change_the_records(workdir: Path, capsys, key) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=8)
    results = {}
    for name, faults in {
        "clean": TeacherFaults(),
        "faulty": TeacherFaults(rate_429=0.2, rate_500=0.2, rate_malformed=0.25, rate_fenced=0.3, retry_after=0.01),
    }.items():
        with running_teacher(faults) as fake:
            code, _, err = build(
                capsys, "--seed", "seed.jsonl", "--size", "50", "--output", name, "--base-url", fake.url
            )
        assert code == 0, err
        results[name] = (_records(workdir / name / "v0.1.0"), manifest(workdir / name / "v0.1.0"), fake.log)
    clean, faulty = results["clean"], results["faulty"]
    assert faulty[0] == clean[0]
    run = faulty[1]["teacher"]["this_run"]
    assert run["rate_limited"] == faulty[2].by_status[429] > 0
    assert run["retries"] >= faulty[2].by_status[429] + faulty[2].by_status[500] > 0
    assert run["reasks"] > 0 and run["failures"] == {}
    # Every re-ask was answered well, so the answers are first-try-valid ones, broken ones and re-asks.
    assert run["valid_first_try"] == run["answers"] - 2 * run["reasks"]


def test_content_filter_costs_only_its_item(workdir: Path, capsys, key) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=10, content_filtered=1)
    # Which calls are refused is drawn from each request's digest; this scenario (enough references left
    # with feedback to make up every lost item) was laid out with the concise set's requests.
    with running_teacher(TeacherFaults(rate_content_filter=0.08)) as fake:
        code, out, err = build(
            capsys,
            "--seed",
            "seed.jsonl",
            "--size",
            "60",
            "--output",
            "out",
            "--base-url",
            fake.url,
            "--prompt-set",
            "concise",
        )
    assert code == 0, err
    release = workdir / "out" / "v0.1.0"
    m = manifest(release)
    refused = fake.log.by_status[400]
    failed = {stage: counts["failed"].get("content_filter", 0) for stage, counts in m["stages"].items()}
    calls = m["teacher"]["this_run"]["by_stage"]
    # Each refusal was asked once (never retried) and lost its item; the release counts the items up to
    # its last record (a reference is one item, though its feedback is two calls).
    assert sum(c["failures"].get("content_filter", 0) for c in calls.values()) == refused > 2
    assert 0 < sum(failed.values()) <= refused
    assert len(datasets.load_dataset(str(release), split="train")) == 60
    feedback_ids = set(datasets.load_dataset(str(release), "feedback", split="train")["reference_id"])
    # Feedback was asked for the references drawn, and a reference that lost it gave no row.
    assert m["stages"]["feedback"]["in"] == m["references_used"] < 11
    assert (
        m["stages"]["feedback"]["in"] - m["stages"]["feedback"]["out"] == m["references_used"] - len(feedback_ids) >= 1
    )
    assert "content_filter" in out


def test_azure_endpoint(fake_teacher: FakeTeacher, workdir: Path, capsys, monkeypatch) -> None:
    fake_teacher.faults.api_key = None  # Azure sends `api-key`, not a bearer token
    set_env(monkeypatch, user_env(fake_teacher, azure=True))
    write_lima_seed(workdir / "seed.jsonl", single=2)
    code, _, err = build(
        capsys, "--azure", "--teacher-model", "my-deployment", "--seed", "seed.jsonl", "--size", "4", "--output", "out"
    )
    assert code == 0, err
    assert fake_teacher.log.paths["/openai/deployments/my-deployment/chat/completions"] == fake_teacher.log.requests > 0
