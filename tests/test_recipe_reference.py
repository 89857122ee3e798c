"""The recipe as the one source of its fields: what shapes the data, the flags, the defaults and the
generated configuration reference all follow from the field declarations."""

from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import BaseModel

from refed_hf.build import _overrides, _parser
from refed_hf.published_recipe import recipe_toml
from refed_hf.recipe import CONTENT_FIELDS, FIELDS, LOCAL_TEACHER_FIELDS, Recipe, load_recipe
from refed_hf.recipe_fields import GROUPS, field_specs, option, shown

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent

# The fields a release records as its content, as they were when this list was hand-kept: dropping
# `shapes_data` from one would silently change what "the same release" means.
SHAPING = {
    "seed", "seed_split", "teacher_model", "size", "random_seed", "version", "temperature", "top_p",
    "max_tokens", "structured_outputs", "max_reasks", "seed_revision", "seed_config", "instruction_column",
    "response_column", "context_column", "max_reference_tokens", "license", "feedback_text", "test_size",
    "language", "dedup_threshold", "seed_leakage_filter", "refusal_filter", "length_filter", "min_length_ratio",
    "judge", "judge_model", "subsets", "rouge_l_threshold", "decontaminate", "decontaminate_column",
    "decontaminate_ngram", "feedback_scope", "prompt_set", "ablations",
}  # fmt: skip
# Every flag of `python -m refed_hf.build`, spelled as users' scripts spell them.
FLAGS = {
    "-h", "--help", "--recipe", "--estimate", "--seed", "--seed-split", "--seed-revision", "--seed-config",
    "--instruction-column", "--response-column", "--context-column", "--max-reference-tokens", "--license",
    "--feedback-text", "--teacher-model", "--base-url", "--azure", "--size", "--random-seed", "--test-size",
    "--language", "--concurrency", "--max-rpm", "--max-tpm", "--output", "--version", "--temperature", "--top-p",
    "--max-tokens", "--no-structured-outputs", "--max-reasks", "--max-retries", "--request-timeout",
    "--max-timeout-retries", "--batch", "--batch-poll-max", "--batch-token-limit", "--max-budget", "--offline",
    "--teacher-gguf", "--dedup-threshold", "--no-seed-leakage-filter", "--no-refusal-filter", "--no-length-filter",
    "--min-length-ratio", "--judge", "--judge-model", "--subsets", "--rouge-l-threshold", "--decontaminate",
    "--decontaminate-column", "--decontaminate-ngram", "--feedback-scope", "--prompt-set", "--ablations", "--push",
    "--repo-id", "--private", "--dry-run", "-q", "--quiet",
}  # fmt: skip
# Every boolean field can be switched either way, so a flag always wins over a recipe file.
OPPOSITE_FLAGS = {
    "--no-azure", "--structured-outputs", "--no-batch", "--no-private", "--no-offline", "--seed-leakage-filter",
    "--refusal-filter", "--length-filter", "--no-judge", "--no-ablations",
}  # fmt: skip


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_config_reference", REPO / "scripts" / "gen_config_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _flags(estimate_mode: bool = False) -> set[str]:
    return {flag for action in _parser(estimate_mode=estimate_mode)._actions for flag in action.option_strings}


def test_the_committed_configuration_reference_is_what_the_fields_generate() -> None:
    committed = (REPO / "docs" / "reference" / "configuration.md").read_text(encoding="utf-8")
    assert committed == _generator().render(), "stale: run python scripts/gen_config_reference.py"


def test_the_reference_lists_every_field_with_its_flag_and_default() -> None:
    page = _generator().render()
    for spec in FIELDS:
        assert f"| `{spec.name}` |" in page
        if spec.flag:
            assert f"| `{spec.flag}` | `{spec.name}` |" in page
        if spec.default is not None and spec.name != "prices":
            assert f"`{shown(spec.default)}`" in page
    assert "`prices.batch_completion`" in page


def test_the_fields_that_shape_the_data_are_declared_on_the_fields() -> None:
    assert set(CONTENT_FIELDS) == SHAPING
    assert LOCAL_TEACHER_FIELDS == ("offline", "local_context")
    published = list(tomllib.loads(recipe_toml(Recipe())))
    # recipe.toml holds them in the recipe's order (fields left unset are left out: TOML has no null)
    assert published == [
        name for name in Recipe.model_fields if name in SHAPING and getattr(Recipe(), name) is not None
    ]
    local = tomllib.loads(recipe_toml(Recipe(offline=True)))
    assert {"offline", "local_context"} <= set(local) and "local_parallel" not in local


def test_every_field_declares_its_concern_and_a_field_without_one_is_refused() -> None:
    assert {spec.group for spec in FIELDS} == set(GROUPS)
    assert all(spec.description for spec in FIELDS)

    class Declared(BaseModel):
        size: int = option(3, "how many", group="sampling", shapes_data=True)

    class Undeclared(BaseModel):
        size: int = 3

    assert field_specs(Declared)[0].flag == "--size"
    with pytest.raises(TypeError, match="Undeclared.size must be declared with option"):
        field_specs(Undeclared)


def test_the_build_flags_keep_their_spellings() -> None:
    assert _flags() == FLAGS | OPPOSITE_FLAGS
    assert _flags(estimate_mode=True) == FLAGS - {"--estimate"} | {"--references"} | OPPOSITE_FLAGS


def test_flags_become_typed_recipe_overrides_and_unset_flags_none() -> None:
    parser = _parser()
    given = parser.parse_args(
        ["--no-refusal-filter", "--azure", "--test-size", "200", "--dedup-threshold", "off", "--feedback-text", "omit"]
        + ["--max-budget", "2.5", "--size", "500", "--seed", "x.jsonl", "--push", "-q", "--estimate"]
    )
    assert _overrides(given) == {
        "seed": "x.jsonl",
        "azure": True,
        "size": 500,
        "test_size": 200,
        "max_budget": 2.5,
        "feedback_text": "omit",
        "dedup_threshold": "off",
        "refusal_filter": False,
    }
    assert isinstance(_overrides(parser.parse_args(["--test-size", "0.1"]))["test_size"], float)
    assert _overrides(parser.parse_args([])) == {}
    with pytest.raises(SystemExit):
        parser.parse_args(["--feedback-text", "sometimes"])


def test_each_flags_help_is_its_fields_description_and_default() -> None:
    helps = {action.dest: action.help or "" for action in _parser()._actions}
    for spec in FIELDS:
        if spec.flag is None:
            assert spec.name not in helps
            continue
        assert helps[spec.name].startswith(spec.description.replace("%", "%%"))
        if spec.default is not None and not isinstance(spec.default, bool):
            assert f"default {shown(spec.default)}" in helps[spec.name]
    assert "8 with --offline" in helps["size"]


def test_offline_defaults_come_from_the_fields_and_flags_still_win() -> None:
    offline = load_recipe(None, {"offline": True})
    assert (offline.seed, offline.size, offline.max_tokens, offline.teacher_model) == (
        "demo",
        8,
        1024,
        "SmolLM2-135M-Instruct",
    )
    assert (offline.temperature, offline.top_p, offline.prompt_set) == (0.7, 0.9, "concise")
    assert offline.concurrency == Recipe().local_parallel
    assert load_recipe(None, {"offline": True, "size": 3}).size == 3
    assert load_recipe(None, {}).seed == Recipe().seed == "GAIR/lima"


def test_filter_settings_take_every_value_from_the_recipe() -> None:
    from refed_hf.builder.filters import FilterSettings
    from refed_hf.job import filter_settings

    assert all(field.default is dataclasses.MISSING for field in dataclasses.fields(FilterSettings))
    off = filter_settings(Recipe(dedup_threshold="off", min_length_ratio=0.3, refusal_filter=False))
    assert (off.dedup_threshold, off.seed_leakage_threshold) == (None, Recipe().dedup_threshold)
    assert (off.min_length_ratio, off.refusal, off.length) == (0.3, False, True)
    assert filter_settings(Recipe(dedup_threshold=0.6)).seed_leakage_threshold == 0.6


def test_loading_a_recipe_does_not_import_the_recipe_toml_writer() -> None:
    code = "import sys, refed_hf.recipe; print('refed_hf.published_recipe' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
