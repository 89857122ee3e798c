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
