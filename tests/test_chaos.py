"""Chaos: three `kill -9` at random points of a build under a faulty teacher, then the same command once more.

The fourth run gives exactly --size records, no answer committed to the cache is ever lost, and the
answers paid for twice are at most the requests in flight at the kills. With 500s as the only fault,
the records are identical to those of an undisturbed build.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import datasets
import pytest

from tests.fakes.seeds import write_lima_seed
from tests.fakes.teacher import FakeTeacher, TeacherFaults
from tests.helpers import build_process, cached_answers, running_teacher, user_env

SIZE = 40
CONCURRENCY = 8
ARGS = ("--seed", "seed.jsonl", "--size", str(SIZE), "--output", "out", "--concurrency", str(CONCURRENCY))
# An answer is sent by the server and committed by the client within this time: an answer sent
# earlier than this before a kill was stored, a later one (like one still being computed) was in flight.
COMMIT_WINDOW = 0.1


def _run(fake: FakeTeacher, cwd: Path) -> tuple[int, str, str]:
    proc = build_process(user_env(fake), cwd, *ARGS)
    out, err = proc.communicate(timeout=180)
    return proc.returncode, out, err


def _kill_at_random_point(fake: FakeTeacher, cwd: Path, rng: random.Random) -> int:
    """Start the build, kill -9 it after a random number of new answers; the requests it had in flight."""
    proc = build_process(user_env(fake), cwd, *ARGS)
    target = sum(fake.log.answered.values()) + rng.randint(3, 25)
    deadline = time.monotonic() + 120
    while sum(fake.log.answered.values()) < target and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    assert proc.poll() is None, "the build ended before its kill: make it longer"
    killed_at = time.monotonic()
    in_flight = fake.in_flight + sum(1 for stamp in fake.log.answered_at if stamp > killed_at - COMMIT_WINDOW)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    while fake.in_flight:  # the server finishes (and bills) what the dead client had asked
        time.sleep(0.01)
    return in_flight


def _chaos(tmp_path: Path, faults: TeacherFaults, seed: int) -> tuple[list[dict], dict[str, int]]:
    write_lima_seed(tmp_path / "seed.jsonl", single=3)
    rng = random.Random(seed)
    committed: dict[str, str] = {}
    in_flight_at_kills = []
    with running_teacher(faults) as fake:
        for _ in range(3):
            in_flight_at_kills.append(_kill_at_random_point(fake, tmp_path, rng))
            now = cached_answers(tmp_path / "out")
            # No answer committed before is lost or changed by a kill.
            assert committed.items() <= now.items()
            committed = now
        code, out, err = _run(fake, tmp_path)
        assert code == 0, err
        assert committed.items() <= cached_answers(tmp_path / "out").items()
    repaid = sum(n - 1 for n in fake.log.answered.values() if n > 1)
    # Only what was in flight at a kill is paid again: never more than --concurrency per kill.
    assert repaid <= sum(in_flight_at_kills) and repaid <= 3 * CONCURRENCY, (repaid, in_flight_at_kills)
    records = datasets.load_dataset(str(tmp_path / "out" / "v0.1.0"), split="train").to_list()
    assert len(records) == SIZE and f"records:      {SIZE}\n" in out
    assert sorted(p.name for p in (tmp_path / "out").glob(".*")) == [".lock"]  # no work or partial folder left
    figures = {
        "requests": fake.log.requests,
        "answers": sum(fake.log.answered.values()),
        "repaid": repaid,
        "in_flight_at_kills": in_flight_at_kills,
        "records": len(records),
        "status_429": fake.log.by_status[429],
        "status_500": fake.log.by_status[500],
    }
    print(f"chaos figures: {figures}")
    return records, figures


@pytest.mark.slow
def test_three_kills_under_500s_malformed_json_and_a_server_cap(tmp_path: Path) -> None:
    faults = TeacherFaults(latency=0.03, jitter_sigma=0.5, cap=6, retry_after=0.02, rate_500=0.10, rate_malformed=0.05)
    _, figures = _chaos(tmp_path, faults, seed=11)
    assert figures["status_429"] > 0 and figures["status_500"] > 0


@pytest.mark.slow
def test_three_kills_under_500s_give_the_records_of_an_undisturbed_build(tmp_path: Path) -> None:
    chaotic, _ = _chaos(tmp_path / "chaos", TeacherFaults(latency=0.03, rate_500=0.10), seed=12)
    write_lima_seed(tmp_path / "clean" / "seed.jsonl", single=3)
    with running_teacher() as fake:
        code, _, err = _run(fake, tmp_path / "clean")
    assert code == 0, err
    assert chaotic == datasets.load_dataset(str(tmp_path / "clean" / "out" / "v0.1.0"), split="train").to_list()
