"""Writing a release to disk, laid out exactly as its Hub repo will be:

    OUTPUT/vX.Y.Z/README.md                         the dataset card (configs + dataset_info in YAML)
    OUTPUT/vX.Y.Z/manifest.json                     how it was made, with every count
    OUTPUT/vX.Y.Z/data/default/train-*.parquet      config `default`: the records
    OUTPUT/vX.Y.Z/data/feedback/train-*.parquet     config `feedback`: references and their feedback

The directory is written under a temporary name and renamed into place, so a crash never leaves
a half-written release where a finished one is expected.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any, Callable

import datasets

MAX_SHARD_BYTES = 500 * 1024 * 1024  # datasets' usual shard size for push_to_hub
CONFIG_DIRS = {"default": "data/default", "feedback": "data/feedback"}


def release_dir(output: str | Path, version: str) -> Path:
    return Path(output) / f"v{version}"


def data_file_patterns() -> dict[str, str]:
    """The `configs` data_files of the card, per config."""
    return {config: f"{folder}/train-*" for config, folder in CONFIG_DIRS.items()}


def _write_parquet(table: datasets.Dataset, folder: Path, max_shard_bytes: int) -> dict[str, int]:
    folder.mkdir(parents=True, exist_ok=True)
    num_bytes = table.data.nbytes
    shards = max(1, math.ceil(num_bytes / max_shard_bytes))
    for index in range(shards):
        shard = table.shard(num_shards=shards, index=index, contiguous=True)
        shard.to_parquet(str(folder / f"train-{index:05d}-of-{shards:05d}.parquet"))
    download_size = sum(path.stat().st_size for path in folder.glob("*.parquet"))
    return {"num_bytes": num_bytes, "download_size": download_size, "shards": shards}


def write_release(
    output: str | Path,
    version: str,
    tables: dict[str, datasets.Dataset],
    manifest: dict[str, Any],
    render_card: Callable[[dict[str, Any]], str],
    max_shard_bytes: int = MAX_SHARD_BYTES,
    add_assets: Callable[[Path, dict[str, Any]], dict[str, Any]] | None = None,
) -> Path:
    """Write both configs as parquet, then the manifest and the card (which describe the files)."""
    final = release_dir(output, version)
    staging = final.with_name(f".{final.name}.partial")
    if staging.exists():
        shutil.rmtree(staging)
    files = {config: _write_parquet(tables[config], staging / folder, max_shard_bytes) for config, folder in CONFIG_DIRS.items()}
    manifest = {**manifest, "files": files}
    if add_assets is not None:  # e.g. the quality report: figures next to the data, numbers in the manifest
        manifest = add_assets(staging, manifest)
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (staging / "README.md").write_text(render_card(manifest), encoding="utf-8")
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)
    return final
