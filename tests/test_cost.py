"""`--max-budget` stops a build and a rerun with more budget finishes it; `--estimate` projects a build."""

from __future__ import annotations

import re
from pathlib import Path

import datasets
import pytest

from tests.fakes.seeds import write_lima_seed
from tests.fakes.teacher import TeacherFaults
from tests.helpers import build, cached_answers, manifest, running_teacher


def test_max_budget_stops_without_a_release_and_a_rerun_continues_from_the_cache(workdir: Path, capsys, key) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=10)
    args = ("--seed", "seed.jsonl", "--size", "100", "--output", "out", "--concurrency", "4")
    with running_teacher(TeacherFaults(latency=0.01)) as fake:
        code, _, err = build(capsys, *args, "--base-url", fake.url, "--max-budget", "0.008")
        assert code == 3
        assert err.count("\n") == 1 and err.startswith("error: stopped at --max-budget $0.008")
        assert "rerun with a higher --max-budget" in err
        assert not (workdir / "out" / "v0.1.0").exists()  # nothing half-done
        stored = len(cached_answers(workdir / "out"))
        spent = float(re.search(r"spent about \$([0-9.]+)", err).group(1))
        # Calls stop before the budget would pass (unknown answer lengths are estimated high).
        assert 20 <= stored < 200 and 0 < spent <= 0.008
        assert fake.log.requests == stored  # every call that went out was stored, none was lost

        code, out, err = build(capsys, *args, "--base-url", fake.url, "--max-budget", "1")
        assert code == 0, err
    assert sum(n - 1 for n in fake.log.answered.values() if n > 1) == 0  # nothing paid twice
    m = manifest(workdir / "out" / "v0.1.0")
    assert m["records"] == 100 and m["teacher"]["this_run"]["cache_hits"] >= stored


def test_max_budget_needs_a_price(workdir: Path, capsys, key) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=2)
    code, _, err = build(
        capsys,
        "--seed",
        "seed.jsonl",
        "--teacher-model",
        "my-model",
        "--max-budget",
        "5",
        "--base-url",
        "http://127.0.0.1:9/v1",
    )
    assert code == 2 and "[prices]" in err and "my-model" in err


def _figure(pattern: str, text: str) -> int:
    return int(re.search(pattern, text, re.MULTILINE).group(1))


def test_estimate_projects_the_full_build_within_ten_percent(workdir: Path, capsys, key) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=30)
    args = ("--seed", "seed.jsonl", "--size", "200", "--output", "out")
    with running_teacher(TeacherFaults(rate_malformed=0.05)) as fake:
        code, out, err = build(capsys, *args, "--base-url", fake.url, "--estimate")
        assert code == 0, err
        sampled = fake.log.requests
        assert not (workdir / "out" / "v0.1.0").exists()
        code, _, err = build(capsys, *args, "--base-url", fake.url)
        assert code == 0, err
    calls = _figure(r"^calls:\s+(\d+)", out)
    prompt, completion = (_figure(r"^tokens:\s+(\d+) prompt", out), _figure(r"\+ (\d+) completion", out))
    used = manifest(workdir / "out" / "v0.1.0")["teacher"]["used"]
    assert calls == pytest.approx(used["answers_used"], rel=0.10)
    assert prompt == pytest.approx(used["prompt_tokens"], rel=0.10)
    assert completion == pytest.approx(used["completion_tokens"], rel=0.10)
    assert re.search(r"^cost:\s+\$[0-9.]+ direct, \$[0-9.]+ with --batch", out, re.MULTILINE)
    # The sample was paid once: the full build found all of it in the cache.
    assert manifest(workdir / "out" / "v0.1.0")["teacher"]["this_run"]["cache_hits"] == sampled
    assert len(datasets.load_dataset(str(workdir / "out" / "v0.1.0"), split="train")) == 200


def test_a_model_without_a_price_says_cost_unknown(workdir: Path, capsys, key) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=2)
    with running_teacher() as fake:
        code, out, err = build(
            capsys,
            "--seed",
            "seed.jsonl",
            "--size",
            "4",
            "--output",
            "out",
            "--teacher-model",
            "my-finetune",
            "--base-url",
            fake.url,
        )
    assert code == 0, err
    m = manifest(workdir / "out" / "v0.1.0")
    assert m["estimated_cost_usd"] is None and m["cost"]["prices_per_million_usd"] is None
    assert "cost:         unknown: no price for 'my-finetune'" in out
    assert "| estimated cost | unknown" in (workdir / "out" / "v0.1.0" / "README.md").read_text()
