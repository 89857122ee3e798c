"""Every fault a user will meet ends in one line, loses no answer and pays for none twice:
two builds on one output, a full disk, a key revoked mid-run, an account out of quota, a wrong model,
Ctrl-C during the imports, SIGTERM, a second Ctrl-C, answers that do not do their job, slow answers."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import datasets
import httpx2
import openai
import pytest

from refed_hf.builder.answer_checks import distinct_instructions, improvement_check
from refed_hf.schemas import Analysis, ImplementationStrategy, Improvement
from refed_hf.signals import MESSAGE
from refed_hf.teacher.answers import InvalidAnswer
from refed_hf.teacher.failures import fatal_error
from refed_hf.teacher.timeouts import TimeoutPolicy
from tests.conftest import TEST_KEY
from tests.fakes.seeds import write_lima_seed
from tests.fakes.teacher import FakeTeacher, TeacherFaults
from tests.helpers import build, build_process, cached_answers, child_env, manifest, running_teacher, user_env


def _repaid(fake: FakeTeacher) -> int:
    return sum(n - 1 for n in fake.log.answered.values() if n > 1)


def _leftovers(output: Path) -> list[str]:
    return sorted(p.name for p in output.glob(".*") if p.name != ".lock")


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


# --- one build per output -----------------------------------------------------------------------


@pytest.mark.slow
def test_two_builds_on_one_output_one_exits_2_naming_the_other_and_nothing_is_paid_twice(tmp_path: Path) -> None:
    write_lima_seed(tmp_path / "seed.jsonl", single=4)
    # Answers slow enough that the first build is still running when the second, started with it, arrives.
    args = ("--seed", "seed.jsonl", "--size", "40", "--output", "out", "--concurrency", "4")
    with running_teacher(TeacherFaults(latency=0.15)) as fake:
        procs = [build_process(user_env(fake), tmp_path, *args) for _ in range(2)]
        results = [(proc.pid, *proc.communicate(timeout=120), proc.returncode) for proc in procs]
    codes = sorted(code for *_, code in results)
    assert codes == [0, 2], results
    winner = next(r for r in results if r[3] == 0)
    loser = next(r for r in results if r[3] == 2)
    line = _one_error_line(loser[2])
    assert f"another build is running in out (pid {winner[0]}, started 20" in line and "--output" in line
    assert "records:      40" in winner[1]
    print(f"two builds: exit codes {codes}, requests {fake.log.requests}, repaid {_repaid(fake)}; {line}")
    # One build's calls, each paid once: 2 references used x 2 feedback calls, 4 instruction calls, 40 x 2.
    assert fake.log.requests == 2 * 2 + 4 + 40 * 2 and _repaid(fake) == 0
    release = tmp_path / "out" / "v0.1.0"
    assert len(datasets.load_dataset(str(release), split="train")) == 40
    assert {p.name for p in release.iterdir()} == {"README.md", "manifest.json", "recipe.toml", "data", "assets"}
    assert _leftovers(tmp_path / "out") == []


# --- a full disk -------------------------------------------------------------------------------


def _small_disk(path: Path, size: str) -> bool:
    """Mount a tmpfs of `size` at `path`; False when this machine does not allow it."""
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, check=False
    )
    return done.returncode == 0


@pytest.mark.slow
def test_a_full_disk_stops_the_build_at_once_and_a_rerun_on_room_pays_nothing_twice(tmp_path: Path) -> None:
    write_lima_seed(tmp_path / "seed.jsonl", single=3)
    disk = tmp_path / "disk"
    mounted = _small_disk(disk, "768k")
    # Without the right to mount, a file-size limit makes the kernel refuse the cache's writes instead.
    limit = None if mounted else (lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (512 * 1024, 512 * 1024)))
    # Long answers from the fake's 16-word vocabulary all look alike: the near-duplicate filter is off.
    args = (
        "--seed",
        "seed.jsonl",
        "--size",
        "60",
        "--concurrency",
        "4",
        "--max-tokens",
        "256",
        "--dedup-threshold",
        "off",
    )
    with running_teacher(TeacherFaults(words=400)) as fake:  # about 20 KB of answers per record
        try:
            if limit is not None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # inherited: a refused write is an error, not a kill
            proc = subprocess.Popen(
                [sys.executable, "-m", "refed_hf.build", "--quiet", *args, "--output", str(disk / "out")],
                cwd=tmp_path,
                env=child_env(user_env(fake)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                preexec_fn=limit,
            )
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 1, err
            line = _one_error_line(err)
            # Answers and records are both written as they come: whichever file the disk refuses first stops it.
            stopped = (
                "error: the build stopped: cannot store answers in ",
                "error: the build stopped: cannot store records in ",
            )
            assert line.startswith(stopped) and "free space" in line, line
            assert "no release was written" in line
            answered, stored = sum(fake.log.answered.values()), len(cached_answers(disk / "out"))
            # It stopped at the first refused write: only the calls already in flight were answered after it.
            assert 0 < stored < 60 and answered - stored <= 4, (answered, stored)
            assert not (disk / "out" / "v0.1.0").exists() and _leftovers(disk / "out") == []

            if mounted:
                # A rerun into the still-full folder is refused before it pays for anything.
                before = fake.log.requests
                proc = build_process(user_env(fake), tmp_path, *args, "--output", str(disk / "out"))
                out, err = proc.communicate(timeout=120)
                assert (
                    proc.returncode == 2 and "free some space" in _one_error_line(err) and fake.log.requests == before
                )

            # Room again (the cache moved to a roomy disk): the rerun finishes and repays only what was in flight.
            shutil.copytree(disk / "out", tmp_path / "roomy")
            proc = build_process(user_env(fake), tmp_path, *args, "--output", "roomy")
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert "records:      60" in out and _repaid(fake) == answered - stored
        finally:
            if mounted:
                subprocess.run(["umount", "--lazy", str(disk)], check=False)
            if limit is not None:
                signal.signal(signal.SIGXFSZ, signal.SIG_DFL)


def test_a_build_that_cannot_fit_on_the_disk_is_refused_before_any_call(
    teacher_env: FakeTeacher, workdir: Path, capsys
) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=3)
    code, _, err = build(capsys, "--seed", "seed.jsonl", "--size", "60", "--output", "out", "--max-tokens", str(10**12))
    assert code == 2 and "free but this build writes about" in _one_error_line(err)
    assert teacher_env.log.requests == 0 and not (workdir / "out" / "cache.sqlite").exists()


# --- errors every call would get ---------------------------------------------------------------

FATAL = {
    "key revoked": (
        TeacherFaults(api_key=TEST_KEY, revoke_after=40),
        (),
        401,
        "the teacher endpoint rejected the API key (HTTP 401 invalid_api_key)",
    ),
    "out of quota": (
        TeacherFaults(api_key=TEST_KEY, quota_after=40),
        (),
        429,
        "the teacher account is out of quota (HTTP 429 insufficient_quota)",
    ),
    "model not found": (
        TeacherFaults(api_key=TEST_KEY, models="gpt-4o-mini"),
        ("--teacher-model", "gpt-nope"),
        404,
        "the teacher model 'gpt-nope' was not found (HTTP 404 model_not_found)",
    ),
}


@pytest.mark.parametrize("case", list(FATAL))
def test_an_error_every_call_would_get_stops_the_build_at_once(case: str, workdir: Path, capsys, key) -> None:
    faults, extra, status, message = FATAL[case]
    write_lima_seed(workdir / "seed.jsonl", single=4)
    with running_teacher(faults) as fake:
        code, out, err = build(
            capsys,
            "--seed",
            "seed.jsonl",
            "--size",
            "60",
            "--output",
            "out",
            "--concurrency",
            "4",
            "--base-url",
            fake.url,
            *extra,
        )
        assert code == 2 and out == ""
        line = _one_error_line(err)
        assert line.startswith(f"error: the build stopped: {message}") and "no release was written" in line, line
        # No call started after the first error: only those already in flight got it too, none was retried.
        assert 1 <= fake.log.by_status[status] <= 4
        # Every answer received is in the cache, and the line says how many.
        stored = len(cached_answers(workdir / "out"))
        assert stored == sum(fake.log.answered.values()) and f"the {stored} answers stored" in line
        assert not (workdir / "out" / "v0.1.0").exists() and _leftovers(workdir / "out") == []

        # Fixed (key, credit, model), the same command finishes and pays for nothing twice.
        fake.faults = TeacherFaults(api_key=TEST_KEY)
        fake.key_revoked = False
        code, out, err = build(
            capsys,
            "--seed",
            "seed.jsonl",
            "--size",
            "60",
            "--output",
            "out",
            "--concurrency",
            "4",
            "--base-url",
            fake.url,
        )
        assert code == 0, err
        assert manifest(workdir / "out" / "v0.1.0")["records"] == 60 and _repaid(fake) == 0


def _api_error(status: int, body: dict) -> openai.APIStatusError:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx2.Response(status, request=request)
    return openai.APIStatusError("boom", response=response, body=body)


def test_fatal_and_per_item_errors_are_told_apart() -> None:
    assert fatal_error(_api_error(403, {"code": "unsupported_country_region_territory"}), "m") is not None
    assert fatal_error(_api_error(403, {"code": "content_filter"}), "m") is None
    assert fatal_error(_api_error(400, {"code": "content_filter"}), "m") is None
    assert fatal_error(_api_error(429, {"code": "rate_limit_exceeded"}), "m") is None
    assert fatal_error(_api_error(429, {"type": "insufficient_quota", "code": "insufficient_quota"}), "m") is not None
    assert fatal_error(_api_error(500, {}), "m") is None and fatal_error(ValueError(), "m") is None


# --- signals -------------------------------------------------------------------------------------


def _strays(cwd: Path) -> list[int]:
    """Processes still running in `cwd` (a build's children would be)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(os.readlink(f"/proc/{pid}/cwd")) == cwd:
                found.append(int(pid))
        except OSError:
            continue
    return found


def _handles_sigterm(pid: int) -> bool:
    """Whether the process has a handler for SIGTERM yet (Python itself catches only SIGINT)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_imports_ends_the_run_in_one_line(signum: int, tmp_path: Path) -> None:
    write_lima_seed(tmp_path / "seed.jsonl", single=2)
    proc = build_process(user_env(), tmp_path, "--seed", "seed.jsonl", "--output", "out")
    deadline = time.monotonic() + 10
    while not _handles_sigterm(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.002)
    # The handler is the build module's first statement: pydantic, datasets and openai (two seconds
    # or more of imports) are still to come.
    time.sleep(0.1)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signum and err == MESSAGE + "\n" and out == ""


@pytest.mark.parametrize(
    "signals_sent", [(signal.SIGTERM,), (signal.SIGINT, signal.SIGINT)], ids=["sigterm", "ctrl-c-twice"]
)
def test_a_signal_mid_run_ends_it_in_one_line_and_leaves_nothing_behind(
    signals_sent: tuple[int, ...], tmp_path: Path
) -> None:
    write_lima_seed(tmp_path / "seed.jsonl", single=4)
    with running_teacher(TeacherFaults(latency=0.05)) as fake:
        proc = build_process(
            user_env(fake), tmp_path, "--seed", "seed.jsonl", "--size", "60", "--output", "out", "--concurrency", "4"
        )
        deadline = time.monotonic() + 60
        while sum(fake.log.answered.values()) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (tmp_path / "out" / ".work-v0.1.0").is_dir()
        for signum in signals_sent:
            proc.send_signal(signum)
            time.sleep(0.02)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 128 + signals_sent[0] and err == MESSAGE + "\n", err
        assert _leftovers(tmp_path / "out") == [] and not (tmp_path / "out" / "v0.1.0").exists()
        assert _strays(tmp_path) == []
        while fake.in_flight:  # calls the build had sent are still answered by the server
            time.sleep(0.01)
        # Everything answered was stored, but for the calls in flight at the signal (at most --concurrency):
        # a rerun pays again for those only (the chaos test reruns after kills).
        assert 0 <= sum(fake.log.answered.values()) - len(cached_answers(tmp_path / "out")) <= 4


# --- answers that do not do their job ------------------------------------------------------------


def _improvement(improved: str, strengths: list[str], changes: list[str], rationale: str) -> Improvement:
    return Improvement(
        analysis=Analysis(original_strengths=strengths, improvement_opportunities=[], relevant_feedback=[]),
        implementation_strategy=ImplementationStrategy(planned_changes=changes, rationale=rationale),
        improved_response=improved,
    )


def test_an_improvement_that_changes_or_explains_nothing_is_rejected() -> None:
    check = improvement_check("The answer is  42.\n")
    check(_improvement("The answer is 42, because six times seven.", ["right"], ["explain"], "why"))
    for bad, reason in [
        (_improvement(" The answer is 42. ", ["right"], ["explain"], "why"), "no_change"),
        (_improvement("Better.", [" "], ["explain"], "why"), "empty_analysis"),
        (_improvement("Better.", ["right"], [], "why"), "empty_analysis"),
        (_improvement("Better.", ["right"], ["explain"], "  "), "empty_analysis"),
    ]:
        with pytest.raises(InvalidAnswer) as problem:
            check(bad)
        assert problem.value.reason == reason


def test_instructions_repeating_the_reference_or_each_other_are_dropped() -> None:
    kept, dropped = distinct_instructions(
        ["Write a poem.", "write a  POEM", "Explain tides?", "Explain tides", " ", "Say hi"], "Explain tides."
    )
    assert kept == ["Write a poem.", "Say hi"]
    assert dropped == {"duplicate_instruction": 1, "repeats_reference": 2}


def test_no_op_answers_are_reasked_counted_and_never_become_records(workdir: Path, capsys, key) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=8)
    faults = TeacherFaults(rate_no_change=0.2, rate_empty_analysis=0.15, rate_repeated_instructions=0.5)
    with running_teacher(faults) as fake:
        code, out, err = build(
            capsys, "--seed", "seed.jsonl", "--size", "50", "--output", "out", "--base-url", fake.url
        )
    assert code == 0, err
    release = workdir / "out" / "v0.1.0"
    records = datasets.load_dataset(str(release), split="train").to_list()
    assert len(records) == 50
    for record in records:
        assert " ".join(record["improved_response"].split()) != " ".join(record["response"].split())
        assert any(record["analysis"].values()) and record["implementation_strategy"]["rationale"].strip()
    m = manifest(release)
    improvements, instructions = m["stages"]["improvements"], m["stages"]["instructions"]
    assert improvements["failed"]["no_change"] > 0 and improvements["failed"]["empty_analysis"] > 0
    assert instructions["failed"]["duplicate_instruction"] > 0 and instructions["failed"]["repeats_reference"] > 0
    # Each no-op improvement was asked three times (first ask and two re-asks) before it failed; the run's
    # calls count every one, the release's stages only the items up to its last record.
    by_stage = m["teacher"]["this_run"]["by_stage"]["improvements"]
    no_ops = by_stage["failures"]["no_change"] + by_stage["failures"]["empty_analysis"]
    assert by_stage["reasks"] == 2 * no_ops
    assert improvements["failed"]["no_change"] + improvements["failed"]["empty_analysis"] <= no_ops
    assert "no_change" in out


def test_names_must_not_be_empty(teacher_env: FakeTeacher, workdir: Path, capsys) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=2)
    code, _, err = build(capsys, "--seed", "seed.jsonl", "--teacher-model", " ", "--output", "out")
    assert code == 2 and "'teacher_model' in the command line: Value error, must not be empty" in _one_error_line(err)
    assert teacher_env.log.requests == 0


# --- timeouts ------------------------------------------------------------------------------------


def test_a_timed_out_call_is_retried_twice_at_most_with_twice_the_time(workdir: Path, capsys, key) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=1)
    with running_teacher(TeacherFaults(latency=0.4)) as fake:
        # Answers take 0.4 s: the first try (0.25 s) times out, the retry (0.5 s) gets the answer.
        code, out, err = build(
            capsys,
            "--seed",
            "seed.jsonl",
            "--size",
            "2",
            "--output",
            "slow",
            "--base-url",
            fake.url,
            "--request-timeout",
            "0.25",
        )
        assert code == 0, err
        calls = 2 + 2 + 2 + 2  # feedback (2), instructions (one per feature), 2 responses, 2 improvements
        run = manifest(workdir / "slow" / "v0.1.0")["teacher"]["this_run"]
        assert run["timeouts"] == calls and run["requests"] == 2 * calls == fake.log.requests
        assert "timeouts:     8" in out and "--request-timeout 0.25 s looks too short" in out

        # Answers that never come in time: each call is sent 1 + 2 times, not 1 + --max-retries (8).
        fake.faults.latency = 3.0
        before = fake.log.requests
        code, out, err = build(
            capsys,
            "--seed",
            "seed.jsonl",
            "--size",
            "2",
            "--output",
            "never",
            "--base-url",
            fake.url,
            "--request-timeout",
            "0.1",
            "--random-seed",
            "1",
        )
        assert code == 1 and fake.log.requests - before == 2 * 3
        # No record: no release is written, and the one line names the failures.
        assert "no record was made (timeout 2)" in err and not (workdir / "never" / "v0.1.0").exists()


def test_timeout_policy_doubles_and_warns_from_the_p95() -> None:
    policy = TimeoutPolicy(10.0, max_retries=2)
    assert [policy.timeout(n) for n in range(3)] == [10.0, 20.0, 40.0]
    assert policy.may_retry(2) and not policy.may_retry(3)
    for seconds in [1.0] * 90 + [9.0] * 10:
        policy.record(seconds)
    assert policy.p95() == 9.0 and "looks too short" in (policy.advice() or "")
    calm = TimeoutPolicy(10.0, max_retries=2)
    for _ in range(100):
        calm.record(2.0)
    assert calm.advice() is None
