"""A build killed with SIGKILL mid-run is finished by the same command, paying for nothing twice."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import datasets
import pytest

from tests.fakes.seeds import write_lima_seed
from tests.fakes.teacher import FakeTeacher, TeacherFaults
from tests.helpers import build_process, cached_answers, running_teacher, user_env

ARGS = ("--seed", "seed.jsonl", "--size", "60", "--output", "out", "--concurrency", "4")


def _run_to_end(fake: FakeTeacher, cwd: Path) -> None:
    proc = build_process(user_env(fake), cwd, *ARGS)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err


@pytest.mark.slow
def test_killed_build_resumes_without_repeating_a_paid_call(tmp_path: Path) -> None:
    interrupted, uninterrupted = tmp_path / "interrupted", tmp_path / "uninterrupted"
    for folder in (interrupted, uninterrupted):
        write_lima_seed(folder / "seed.jsonl", single=8)

    with running_teacher(TeacherFaults(latency=0.03)) as fake:
        proc = build_process(user_env(fake), interrupted, *ARGS)
        deadline = time.monotonic() + 120
        while sum(fake.log.answered.values()) < 60 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        while fake.in_flight:  # calls the dead client had sent are still answered by the server
            time.sleep(0.01)
        answered_before_kill = sum(fake.log.answered.values())
        assert proc.returncode == -signal.SIGKILL and 60 <= answered_before_kill < 170

        stored = len(cached_answers(interrupted / "out"))

        _run_to_end(fake, interrupted)
        repeated = sum(n - 1 for n in fake.log.answered.values() if n > 1)
        # Only answers that were in flight when the process died (sent by the server, never
        # stored by the client) are asked again: at most one per place of --concurrency.
        assert repeated == answered_before_kill - stored <= 4
        total_answers = sum(fake.log.answered.values())

    with running_teacher() as reference:
        _run_to_end(reference, uninterrupted)
    # Apart from those, the killed-and-resumed build asked for exactly what an uninterrupted one asks.
    assert total_answers - repeated == sum(reference.log.answered.values())
    for config in ("default", "feedback"):
        resumed = datasets.load_dataset(str(interrupted / "out" / "v0.1.0"), config, split="train").to_list()
        straight = datasets.load_dataset(str(uninterrupted / "out" / "v0.1.0"), config, split="train").to_list()
        assert resumed == straight and len(resumed) == (60 if config == "default" else 3)
