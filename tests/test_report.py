"""The quality report: drawn headless into the release, referenced from the card with alt text,
published with the release (the card's image links resolve on the Hub emulator), and the same report
from `python -m refed_hf.report` for a release on disk or on the Hub."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download

from refed_hf.report import main as report_main
from tests.conftest import HUB_TOKEN, TEST_KEY
from tests.fakes.hub import FakeHub
from tests.fakes.seeds import write_lima_seed
from tests.fakes.teacher import FakeTeacher, TeacherFaults
from tests.helpers import build, child_env, manifest, running_teacher, set_env, user_env

REPO = "refed-org/refed-quality"
IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def bad_teacher(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTeacher]:
    faults = TeacherFaults(
        api_key=TEST_KEY, rate_duplicate=0.1, rate_refusal=0.1, rate_truncated=0.1, rate_seed_copy=0.05
    )
    with running_teacher(faults) as teacher:
        set_env(monkeypatch, user_env(teacher))
        yield teacher


def _images(card: str) -> list[tuple[str, str]]:
    return IMAGE.findall(card)


def test_report_in_card_published_and_from_the_cli(
    bad_teacher: FakeTeacher, workdir: Path, hub: FakeHub, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    write_lima_seed(workdir / "seed.jsonl", single=8)
    code, _, err = build(
        capsys,
        "--seed",
        "seed.jsonl",
        "--size",
        "50",
        "--output",
        "out",
        "--push",
        "--repo-id",
        REPO,
        "--version",
        "1.0.0",
    )
    assert code == 0, err
    release = workdir / "out" / "v1.0.0"
    m = manifest(release)
    card = (release / "README.md").read_text()

    images = _images(card)
    assert [path for _, path in images] == [figure["file"] for figure in m["quality"]["figures"]]
    assert {path for _, path in images} == {
        "assets/lengths.png",
        "assets/improvement.png",
        "assets/features.png",
        "assets/filters.png",
    }
    for alt, path in images:
        assert len(alt) > 30  # a sentence, not a file name
        assert (release / path).read_bytes().startswith(PNG_MAGIC)
    dropped = m["filters"]["dropped"]
    assert (
        f"records kept ({m['filters']['kept']})" in images[-1][0] and f"refusal {dropped['refusal']}" in images[-1][0]
    )
    assert f"| dropped by filter `near_duplicate` | {dropped['near_duplicate']} |" in card
    assert f"python -m refed_hf.report hf://datasets/{REPO}@v1.0.0" in card

    # On the Hub, at the tag: the card's relative image links resolve to the same images.
    published = Path(hf_hub_download(REPO, "README.md", repo_type="dataset", revision="v1.0.0")).read_text()
    assert published == card
    for _, path in _images(published):
        remote = hf_hub_download(REPO, path, repo_type="dataset", revision="v1.0.0")
        assert Path(remote).read_bytes() == (release / path).read_bytes()

    # The CLI, on the release on disk and on the Hub, gives the same numbers.
    assert report_main([str(release), "--out", "local-report"]) == 0
    local_out = capsys.readouterr().out
    assert report_main([f"hf://datasets/{REPO}@v1.0.0", "--out", "hub-report"]) == 0
    hub_out = capsys.readouterr().out
    numbers = [line for line in local_out.splitlines() if not line.startswith(("figure:", "all figures:"))]
    assert numbers == [line for line in hub_out.splitlines() if not line.startswith(("figure:", "all figures:"))]
    assert f"distinct 2-gram ratio:    {m['quality']['distinct_2gram_ratio']}" in local_out
    assert f"dropped: refusal {dropped['refusal']}, length {dropped['length']}" in local_out
    for folder in ("local-report", "hub-report"):
        assert sorted(p.name for p in (workdir / folder).iterdir()) == sorted(
            [*(Path(p).name for _, p in images), "report.png"]
        )

    assert report_main([f"hf://datasets/{REPO}@v9.9.9"]) == 2
    assert "cannot read hf://datasets/refed-org/refed-quality@v9.9.9 from the Hub" in capsys.readouterr().err


def test_report_cli_renders_headless_in_a_child_process(teacher_env: FakeTeacher, workdir: Path, capsys) -> None:
    write_lima_seed(workdir / "seed.jsonl", single=2)
    assert build(capsys, "--seed", "seed.jsonl", "--size", "12", "--output", "out")[0] == 0
    headless = user_env(teacher_env, DISPLAY=None, WAYLAND_DISPLAY=None, MPLBACKEND=None)
    done = subprocess.run(
        [sys.executable, "-m", "refed_hf.report", "out/v0.1.0", "--out", "figs", "--changed-over", "5"],
        cwd=workdir,
        env=child_env(headless),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "records:                  12" in done.stdout and "changed > 5%" in done.stdout
    for name in ("lengths", "improvement", "features", "filters", "report"):
        assert (workdir / "figs" / f"{name}.png").read_bytes().startswith(PNG_MAGIC)

    assert report_main(["out"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: out is not a REFED release (no manifest.json or data/default/*.parquet): "
        "pass a release directory such as ./refed-release/v1.0.0"
    )


def test_report_of_an_empty_release(tmp_path: Path) -> None:
    import datasets

    from refed_hf.features import FEEDBACK_FEATURES, RECORD_FEATURES
    from refed_hf.release.manifest import Filters
    from refed_hf.release.report import quality_report

    for config, features in (("default", RECORD_FEATURES), ("feedback", FEEDBACK_FEATURES)):
        (tmp_path / "data" / config).mkdir(parents=True)
        datasets.Dataset.from_dict({name: [] for name in features}, features=features).to_parquet(
            str(tmp_path / "data" / config / "train-0.parquet")
        )
    filters = {"screened": 3, "kept": 0, "dropped": {"refusal": 3}, "api_refusals": 0, "settings": {}}
    numbers = quality_report(tmp_path, Filters.model_validate(filters), tmp_path / "figs")
    assert numbers["records"] == 0 and numbers["distinct_2gram_ratio"] is None and numbers["changed_share"] is None
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [
        "features.png",
        "filters.png",
        "improvement.png",
        "lengths.png",
    ]


def test_a_judged_release_gets_the_judge_figure_with_the_columns_numbers(
    teacher_env: FakeTeacher, workdir: Path, capsys
) -> None:
    import datasets

    write_lima_seed(workdir / "seed.jsonl", single=6)
    args = ["--seed", "seed.jsonl", "--size", "40"]
    assert build(capsys, *args, "--output", "plain")[0] == 0
    code, _, err = build(capsys, *args, "--output", "judged", "--judge")
    assert code == 0, err

    plain, judged = workdir / "plain" / "v0.1.0", workdir / "judged" / "v0.1.0"
    assert "judge" not in [Path(f["file"]).stem for f in manifest(plain)["quality"]["figures"]]
    assert not (plain / "assets" / "judge.png").exists()

    m = manifest(judged)
    figures = {Path(f["file"]).stem: f for f in m["quality"]["figures"]}
    assert figures["judge"]["file"] == "assets/judge.png"
    assert (judged / "assets" / "judge.png").read_bytes().startswith(PNG_MAGIC)
    assert "![" + figures["judge"]["alt"] + "](assets/judge.png)" in (judged / "README.md").read_text()
    assert "judge" not in m["quality"]  # its numbers are the manifest's own `judge` part

    rows = datasets.load_dataset(str(judged), "default", split="train")
    verdicts = [(r["feature"], r["judge"]) for r in rows]
    count = {name: sum(v["preferred"] == name for _, v in verdicts) for name in ("improved", "original", "tie")}
    agreed = sum(v["original_first"] == v["improved_first"] for _, v in verdicts)
    assert 0 < count["improved"] < len(rows) and count["tie"] > 0  # the fake judge gives every verdict
    assert {key: m["judge"][key] for key in count} == count
    alt = figures["judge"]["alt"]
    assert (
        f"on {len(rows)} records: improved {count['improved']}, original {count['original']}, tie {count['tie']} "
        f"(win rate {m['judge']['win_rate']})" in alt
    )
    assert f"the two orders agree on {agreed} of {len(rows)} records" in alt
    assert len(rows) - agreed == m["judge"]["disagreements"]
    for feature in ("subject", "skill"):
        mine = [v["preferred"] for f, v in verdicts if f == feature]
        assert mine
        assert (
            f"{feature}: improved {mine.count('improved')}, original {mine.count('original')}, tie {mine.count('tie')}"
            in alt
        )

    # The CLI draws the same figure and prints the same counts.
    assert report_main([str(judged), "--out", "judged-report"]) == 0
    out = capsys.readouterr().out
    assert (
        f"judge:                    improved {count['improved']}, original {count['original']}, tie {count['tie']} "
        f"of {len(rows)} (win rate {m['judge']['win_rate']}, orders agree on {round(agreed / len(rows), 4)}"
    ) in out
    assert (workdir / "judged-report" / "judge.png").read_bytes().startswith(PNG_MAGIC)
    assert report_main([str(plain), "--out", "plain-report"]) == 0
    assert "judge" not in capsys.readouterr().out
    assert not (workdir / "plain-report" / "judge.png").exists()


def test_the_judge_figure_counts_records_without_a_verdict_and_each_order(tmp_path: Path) -> None:
    import datasets

    from refed_hf.features import FEEDBACK_FEATURES, JUDGED_RECORD_FEATURES
    from refed_hf.release.report import describe, quality_report

    def verdict(first: str, second: str) -> dict[str, str]:
        preferred = first if first == second else "tie"
        return {
            "preferred": preferred,
            "original_first": first,
            "reason_original_first": "A reason.",
            "improved_first": second,
            "reason_improved_first": "Another reason.",
        }

    judged = [
        ("subject", verdict("improved", "improved")),
        ("subject", verdict("improved", "original")),
        ("subject", None),
        ("skill", verdict("original", "original")),
        ("skill", verdict("improved", "improved")),
        ("skill", verdict("tie", "tie")),
    ]
    rows = [
        {
            "instruction": f"Instruction number {i}",
            "response": "a response",
            "analysis": {"original_strengths": [], "improvement_opportunities": [], "relevant_feedback": []},
            "implementation_strategy": {"planned_changes": [], "rationale": ""},
            "improved_response": "an improved response",
            "reference_id": "r",
            "feature": feature,
            "teacher_model": "m",
            "judge": judge,
        }
        for i, (feature, judge) in enumerate(judged)
    ]
    (tmp_path / "data" / "default").mkdir(parents=True)
    (tmp_path / "data" / "feedback").mkdir(parents=True)
    datasets.Dataset.from_list(rows, features=JUDGED_RECORD_FEATURES).to_parquet(
        str(tmp_path / "data" / "default" / "train-0.parquet")
    )
    datasets.Dataset.from_dict({name: [] for name in FEEDBACK_FEATURES}, features=FEEDBACK_FEATURES).to_parquet(
        str(tmp_path / "data" / "feedback" / "train-0.parquet")
    )

    numbers = quality_report(tmp_path, None, tmp_path / "figs")
    judge = numbers["judge"]
    assert (judge["records"], judge["judged"], judge["no_verdict"]) == (6, 5, 1)
    assert (judge["improved"], judge["original"], judge["tie"], judge["disagreements"]) == (2, 1, 2, 1)
    assert judge["win_rate"] == round(2 / 6, 4) and judge["agreement_share"] == 0.8
    assert judge["by_feature"]["subject"] == {
        "improved": 1,
        "original": 0,
        "tie": 1,
        "no_verdict": 1,
        "win_rate": 0.3333,
    }
    assert judge["orders"]["improved"] == {"improved": 2, "original": 1, "tie": 0}
    assert judge["orders"]["tie"]["tie"] == 1
    alt = numbers["figures"][-1]["alt"]
    assert numbers["figures"][-1]["file"] == "judge.png"
    assert "improved 2, original 1, tie 2, no verdict 1 (win rate 0.3333)" in alt
    assert "the two orders agree on 4 of 5 records" in alt
    assert (tmp_path / "figs" / "judge.png").read_bytes().startswith(PNG_MAGIC)
    assert "judge, skill:             improved 1, original 1, tie 1 (win rate 0.3333)" in describe(numbers)
