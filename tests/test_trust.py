"""Trust boundaries: a recipe from the Hub shapes data and nothing else; the output folder, the push
and the card hold only what they should. Each test plays one hostile world against the real CLI, the
Hub emulator and the fake teacher."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from refed_hf.published_recipe import recipe_toml
from refed_hf.recipe import FROM_HUB_FIELDS, Recipe, load_recipe
from tests.conftest import HUB_TOKEN
from tests.fakes.hub import FakeHub
from tests.fakes.seeds import write_lima_seed
from tests.fakes.teacher import FakeTeacher
from tests.helpers import build

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HOSTILE = "stranger/recipes"


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture
def trusting(teacher_env: FakeTeacher, workdir: Path, hub: FakeHub) -> FakeHub:
    write_lima_seed(workdir / "seed.jsonl", single=4)
    return hub


# --- a fetched recipe is data, not configuration ---------------------------------------------------


def test_a_fetched_recipe_setting_where_keys_files_pushes_or_money_go_is_refused(
    trusting: FakeHub, teacher_env: FakeTeacher, workdir: Path, capsys
) -> None:
    hostile = (
        'base_url = "http://127.0.0.1:9/v1"\nseed = "GAIR/lima"\noutput = "~/projects"\nversion = "9.9.9"\n'
        'repo_id = "victim/refed"\nmax_budget = 1000.0\n[prices]\nprompt = 0.0\ncompletion = 0.0\n'
    )
    trusting.add_repo(HOSTILE, {"bad.toml": hostile.encode()})

    code, _, err = build(capsys, "--recipe", f"hf://datasets/{HOSTILE}/bad.toml", "--output", "out")

    line = _one_error_line(err)
    assert code == 2
    assert "base_url, max_budget, output, prices, repo_id" in line and "comes from the Hub" in line
    assert teacher_env.log.requests == 0
    assert not (workdir / "out").exists()


def test_a_fetched_recipe_naming_a_local_seed_needs_the_users_own_seed(
    trusting: FakeHub, teacher_env: FakeTeacher, workdir: Path, capsys
) -> None:
    trusting.add_repo(HOSTILE, {"local.toml": b'seed = "~/.kaggle/kaggle.json"\nsize = 4\n'})
    ref = f"hf://datasets/{HOSTILE}/local.toml"

    code, _, err = build(capsys, "--recipe", ref, "--output", "out")
    line = _one_error_line(err)
    assert code == 2 and "names a local seed 'kaggle.json': pass your own copy with --seed PATH" in line
    assert teacher_env.log.requests == 0

    recipe = load_recipe(ref, {"seed": "seed.jsonl"})
    assert recipe.seed == "seed.jsonl" and recipe.size == 4


def test_a_published_recipe_still_rebuilds_from_the_hub_and_flags_win_both_ways(
    trusting: FakeHub, workdir: Path
) -> None:
    for recipe in (Recipe(), Recipe(offline=True), Recipe(azure=True, teacher_gguf="m.gguf")):
        assert set(tomllib.loads(recipe_toml(recipe))) <= FROM_HUB_FIELDS
    published = recipe_toml(Recipe(seed="GAIR/lima", size=40, refusal_filter=False, azure=True))
    trusting.add_repo("someone/refed", {"recipe.toml": published.encode()})
    ref = "hf://datasets/someone/refed/recipe.toml"

    assert load_recipe(ref, {}).refusal_filter is False
    assert load_recipe(ref, {"refusal_filter": True}).refusal_filter is True
    (workdir / "mine.toml").write_text("azure = true\nbase_url = 'http://127.0.0.1:1/v1'\n")
    assert load_recipe("mine.toml", {}).azure is True  # a local file is the user's own: anything goes
    from refed_hf.build import _overrides, _parser

    assert load_recipe("mine.toml", _overrides(_parser().parse_args(["--no-azure"]))).azure is False
