"""The manifest model: what is written reads back the same, and a manifest from before
`schema_version` reads into today's model through the one migration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from refed_hf.errors import ManifestError
from refed_hf.recipe import Recipe
from refed_hf.release.manifest import SCHEMA_VERSION, ConfigFiles, Filters, SplitFiles, read, write
from tests.helpers import manifest_of

HUB_SEED = {"kind": "hub", "name": "GAIR/lima", "revision": "main", "sha": "abc123", "config": None, "split": "train"}


def _files(rows: int) -> dict[str, ConfigFiles]:
    split = SplitFiles(num_bytes=10, download_size=20, shards=1, rows=rows)
    return {"default": ConfigFiles(num_bytes=10, download_size=20, shards=1, splits={"train": split, "test": split})}


def test_a_written_manifest_reads_back_equal_with_its_keys_in_order(tmp_path: Path) -> None:
    manifest = manifest_of(Recipe(size=7), HUB_SEED, records=7).model_copy(
        update={"files": _files(7), "filters": Filters.model_validate({"api_refusals": 2})}
    )
    write(tmp_path, manifest)
    again = read(tmp_path)
    assert again == manifest
    assert again.split_names() == ["train", "test"] and again.filters is not None and again.filters.api_refusals == 2
    raw = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert list(raw)[:3] == ["schema_version", "name", "version"] and raw["schema_version"] == SCHEMA_VERSION
    # Open-ended parts keep their producer's keys and order; a part given partly is written partly.
    assert list(raw["seed"]) == ["source", "rows", "kept", "dropped", "shape", *HUB_SEED]
    assert list(raw["recipe"]) == list(Recipe(size=7).public_dict())
    assert raw["filters"] == {"api_refusals": 2} and "quality" not in raw and "split_statistics" not in raw
    assert (tmp_path / "manifest.json").read_text(encoding="utf-8") == again.to_json()


def _unversioned(tmp_path: Path) -> dict:
    """A manifest as releases were written before schema_version, splits, provenance and costs."""
    write(
        tmp_path, manifest_of(Recipe(size=7), {"name": "GAIR/lima"}, records=7).model_copy(update={"files": _files(7)})
    )
    raw = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    del raw["schema_version"], raw["cost"], raw["seed"]["name"], raw["seed"]["shape"]
    for field in ("license", "language", "test_size"):
        del raw["recipe"][field]
    raw["feedback_rows"] = 3
    raw["files"] = {
        "default": {"num_bytes": 10, "download_size": 20, "shards": 1},
        "feedback": {"num_bytes": 4, "download_size": 8, "shards": 1},
    }
    return raw


def test_an_older_manifest_without_schema_version_reads_into_the_model(tmp_path: Path) -> None:
    from refed_hf.dataset_card import render_card

    (tmp_path / "manifest.json").write_text(json.dumps(_unversioned(tmp_path)), encoding="utf-8")
    manifest = read(tmp_path)
    assert manifest.schema_version == SCHEMA_VERSION
    assert manifest.seed.name == "GAIR/lima" and manifest.seed.kind == "local" and manifest.seed.feedback_text
    # One split, `train`, with the totals and the rows the manifest counted at its top level.
    assert manifest.split_names() == ["train"]
    assert manifest.files["default"].splits["train"] == SplitFiles(num_bytes=10, download_size=20, shards=1, rows=7)
    assert manifest.files["feedback"].splits["train"].rows == 3
    assert (manifest.recipe.license, manifest.recipe.language, manifest.recipe.test_size) == ("cc-by-nc-4.0", "en", 0)
    assert manifest.cost is None and manifest.splits is None and manifest.timeouts is None
    card = render_card(manifest, None, {"default": {"train": "data/default/train-*"}}, load_path="here")
    assert "unknown (the teacher model is not in the price table" in card and "records" in card


def test_an_unreadable_or_newer_manifest_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text('{"recipe": {}}', encoding="utf-8")
    with pytest.raises(ManifestError, match=r"not a REFED manifest \(field .*\): rebuild the release$"):
        read(tmp_path)
    newer = _unversioned(tmp_path) | {"schema_version": SCHEMA_VERSION + 1}
    (tmp_path / "manifest.json").write_text(json.dumps(newer), encoding="utf-8")
    with pytest.raises(ManifestError, match="upgrade refed-hf$") as caught:
        read(tmp_path)
    assert "\n" not in str(caught.value)
