"""`--batch` against the fake's Files and Batches endpoints: same records as a direct build, retries of
error, expired and cancelled lines, and a `kill -9` mid-batch finished by a rerun that pays for nothing twice."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import datasets
import pytest

from refed_hf.teacher.prices import Usage, prices_for
from tests.fakes.batches import BatchFaults
from tests.fakes.seeds import write_lima_seed
from tests.fakes.teacher import FakeTeacher, TeacherFaults
from tests.helpers import build, build_process, manifest, running_teacher, set_env, user_env

FAST = ("--batch", "--batch-poll-max", "0.1")


def _tables(release: Path) -> dict[str, list[dict]]:
    return {
        config: datasets.load_dataset(str(release), config, split="train").to_list()
        for config in ("default", "feedback")
    }


def _build_with(fake: FakeTeacher, capsys, out: str, *args: str) -> tuple[int, str, str]:
    return build(capsys, "--seed", "seed.jsonl", "--output", out, "--base-url", fake.url, *args)


def test_batch_build_gives_the_direct_builds_records_at_batch_rates(workdir: Path, capsys, key) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=6)
    with (
        running_teacher() as direct,
        running_teacher(batch_faults=BatchFaults(duration=0.1, shuffle=True)) as batched,
    ):
        assert _build_with(direct, capsys, "direct", "--size", "30")[0] == 0
        code, out, err = _build_with(batched, capsys, "batched", "--size", "30", *FAST)
    assert code == 0, err
    assert _tables(workdir / "batched" / "v0.1.0") == _tables(workdir / "direct" / "v0.1.0")
    # Every call went through the Batch API, none directly, and each line was submitted once.
    assert batched.log.paths["/v1/chat/completions"] == 0
    assert set(batched.batches.log.submitted.values()) == {1}
    m = manifest(workdir / "batched" / "v0.1.0")
    run, api = m["teacher"]["this_run"], m["batch_api"]
    # Feedback for the 2 references used (4), 4 instruction calls, 30 responses, 30 improvements.
    assert api["lines"] == run["answers"] == sum(batched.batches.log.submitted.values()) == 68
    # The method's four waves emerge by themselves: feedback, instructions, responses, improvements.
    assert [list(wave["stages"]) for wave in api["by_wave"]] == [
        ["feedback"],
        ["instructions"],
        ["responses"],
        ["improvements"],
    ]
    usage = Usage(run["prompt_tokens"], run["cached_tokens"], run["completion_tokens"])
    assert m["estimated_cost_usd"] == pytest.approx(prices_for("gpt-4o-mini").cost(usage, batch=True), abs=1e-6)
    assert m["cost"]["release_direct_usd"] == pytest.approx(2 * m["cost"]["release_batch_usd"], rel=1e-3)
    assert "batch rates" in out and "Batch API: 4 waves" in out
    assert "built with the OpenAI Batch API" in (workdir / "batched" / "v0.1.0" / "README.md").read_text()


def test_error_expired_and_cancelled_lines_go_into_the_next_batch(workdir: Path, capsys, key) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=6, content_filtered=1)
    with (
        running_teacher() as clean,
        running_teacher(
            TeacherFaults(rate_500=0.2, rate_malformed=0.1),
            batch_faults=BatchFaults(duration=0.1, expire_every=3, cancel_every=4),
        ) as faulty,
    ):
        # Feedback for every reference, so the content-filtered one is asked too.
        assert _build_with(clean, capsys, "clean", "--size", "40", "--feedback-scope", "all")[0] == 0
        code, _, err = _build_with(faulty, capsys, "faulty", "--size", "40", "--feedback-scope", "all", *FAST)
    assert code == 0, err
    assert _tables(workdir / "faulty" / "v0.1.0") == _tables(workdir / "clean" / "v0.1.0")
    m = manifest(workdir / "faulty" / "v0.1.0")
    api = m["batch_api"]
    assert faulty.batches.log.outcomes["expired"] >= 1 and faulty.batches.log.outcomes["cancelled"] >= 1
    assert api["expired_lines"] > 0 and api["cancelled_lines"] > 0
    assert api["retried_lines"] >= api["expired_lines"] + api["cancelled_lines"] + faulty.log.by_status[500] > 0
    assert m["teacher"]["this_run"]["reasks"] > 0  # invalid answers were asked again in a later wave
    # The content-filtered reference is one item lost at the feedback stage (400, never retried), as directly.
    assert m["stages"]["feedback"]["failed"] == {"content_filter": 1}
    feedback = m["stages"]["feedback"]
    assert feedback["in"] == feedback["out"] + sum(feedback["failed"].values())
    assert sum(n - 1 for n in faulty.log.answered.values() if n > 1) == 0  # no answer paid twice


def test_kill_during_batches_then_rerun_pays_nothing_twice(tmp_path: Path) -> None:
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    for folder in (killed, straight):
        write_lima_seed(folder / "seed.jsonl", single=6)
    args = ("--seed", "seed.jsonl", "--size", "40", "--output", "out", *FAST)
    with running_teacher(batch_faults=BatchFaults(duration=1.5)) as fake:
        env = user_env(fake)
        proc = build_process(env, killed, *args)
        deadline = time.monotonic() + 60
        # Kill once the second wave (instructions) is in flight at the provider.
        while fake.batches.log.batches < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        in_flight = [b for b in fake.batches.batches.values() if b["status"] not in ("completed", "failed")]
        assert in_flight, "the kill should land while a batch runs"

        rerun = build_process(env, killed, *args)
        _, err = rerun.communicate(timeout=120)
        assert rerun.returncode == 0, err
    # No line was submitted twice and no answer was paid for twice, across the kill.
    assert set(fake.batches.log.submitted.values()) == {1}
    assert sum(n - 1 for n in fake.log.answered.values() if n > 1) == 0
    assert manifest(killed / "out" / "v0.1.0")["batch_api"]["reattached_batches"] >= 1

    with running_teacher() as reference:
        proc = build_process(
            user_env(reference),
            straight,
            "--seed",
            "seed.jsonl",
            "--size",
            "40",
            "--output",
            "out",
        )
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert _tables(killed / "out" / "v0.1.0") == _tables(straight / "out" / "v0.1.0")
    assert sum(fake.log.answered.values()) == sum(reference.log.answered.values())


def test_azure_batch_uses_azure_routes(fake_teacher: FakeTeacher, workdir: Path, capsys, monkeypatch) -> None:
    fake_teacher.faults.api_key = None  # Azure sends `api-key`, not a bearer token
    fake_teacher.batches.faults.duration = 0.05
    set_env(monkeypatch, user_env(fake_teacher, azure=True))
    write_lima_seed(workdir / "seed.jsonl", single=2)
    code, _, err = build(
        capsys,
        "--azure",
        "--teacher-model",
        "my-deployment",
        "--seed",
        "seed.jsonl",
        "--size",
        "4",
        "--output",
        "out",
        *FAST,
        "--recipe",
        str(_prices(workdir)),
    )
    assert code == 0, err
    assert fake_teacher.log.requests == 0 and fake_teacher.batches.log.batches >= 4
    batch = next(iter(fake_teacher.batches.batches.values()))
    assert batch["endpoint"] == "/chat/completions"  # Azure's route, the deployment in body.model
    m = manifest(workdir / "out" / "v0.1.0")
    assert m["records"] == 4 and m["estimated_cost_usd"] is not None


def _prices(workdir: Path) -> Path:
    recipe = workdir / "recipe.toml"
    recipe.write_text("[prices]\nprompt = 0.15\ncompletion = 0.60\n")
    return recipe


def test_enqueued_token_limit_splits_waves_and_waits(workdir: Path, capsys, key) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=4)
    # The provider refuses batches past 3,000 enqueued tokens and the recipe does not say so: refused
    # batches (not a failure of their lines) are cut smaller and go out again as others finish.
    with running_teacher(batch_faults=BatchFaults(duration=0.1, token_limit=3000)) as fake:
        code, _, err = _build_with(fake, capsys, "out", "--size", "20", *FAST)
    assert code == 0, err
    api = manifest(workdir / "out" / "v0.1.0")["batch_api"]
    assert fake.batches.log.token_limit_failures >= 1 and api["token_limit_waits"] >= 1
    # Waves were cut into smaller batches that fit, sent one after another.
    assert api["batches"] - fake.batches.log.token_limit_failures > 4
    answers = manifest(workdir / "out" / "v0.1.0")["teacher"]["this_run"]["answers"]
    assert sum(fake.batches.log.submitted.values()) == answers and api["failed_lines"] == 0
    assert manifest(workdir / "out" / "v0.1.0")["records"] == 20
    assert set(fake.batches.log.submitted.values()) == {1}


def test_ctrl_c_says_batches_keep_running(tmp_path: Path) -> None:
    write_lima_seed(tmp_path / "seed.jsonl", single=4)
    with running_teacher(batch_faults=BatchFaults(duration=5)) as fake:
        proc = build_process(
            user_env(fake),
            tmp_path,
            "--seed",
            "seed.jsonl",
            "--size",
            "20",
            "--output",
            "out",
            *FAST,
        )
        deadline = time.monotonic() + 60
        while fake.batches.log.batches < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "keep running at the provider" in err and "rerun the same command" in err


def test_a_batch_created_but_never_recorded_is_found_again_not_created_twice(workdir: Path, capsys, key) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=3)
    # Every creation answers after the client's timeout: the batch exists, the client never heard.
    with running_teacher(batch_faults=BatchFaults(duration=0.1, create_delay=0.6)) as fake:
        code, _, err = _build_with(fake, capsys, "out", "--size", "20", *FAST, "--request-timeout", "0.3")
    assert code == 0, err
    uploads = [
        f
        for f in fake.batches.files
        if fake.batches.files[f].count(b'"custom_id"')
        and any(b["input_file_id"] == f for b in fake.batches.batches.values())
    ]
    # One batch per uploaded input file, each line submitted once: every batch was adopted by its file.
    assert len(fake.batches.batches) == len(uploads) >= 4
    assert set(fake.batches.log.submitted.values()) == {1}
    assert manifest(workdir / "out" / "v0.1.0")["records"] == 20
