"""Writing a release to disk, laid out exactly as its Hub repo will be:

    OUTPUT/vX.Y.Z/README.md                         the dataset card (configs + dataset_info in YAML)
    OUTPUT/vX.Y.Z/manifest.json                     how it was made, with every count
    OUTPUT/vX.Y.Z/data/default/train-*.parquet      config `default`: the records
    OUTPUT/vX.Y.Z/data/feedback/train-*.parquet     config `feedback`: references and their feedback
    OUTPUT/vX.Y.Z/data/sft/train-*.parquet          config `sft`: the records as TRL conversations
    OUTPUT/vX.Y.Z/data/preference/train-*.parquet   config `preference`: the records as TRL preference pairs
    OUTPUT/vX.Y.Z/data/sft-METHOD-N/train-*.parquet subset configs (with --subsets), split train only
    OUTPUT/vX.Y.Z/data/sft-*/train-*.parquet        the ablation configs (with --ablations), shaped like `sft`
    OUTPUT/vX.Y.Z/data/*/test-*.parquet             split `test` of each config (with --test-size)
    OUTPUT/vX.Y.Z/recipe.toml                       the published recipe (rebuild with --recipe)

The directory is written under a temporary name and renamed into place, so a crash never leaves
a half-written release where a finished one is expected.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import datasets

from .. import signals
from .manifest import ConfigFiles, Manifest, SplitFiles, write

MAX_SHARD_BYTES = 500 * 1024 * 1024  # datasets' usual shard size for push_to_hub
CONFIG_DIRS = {
    "default": "data/default",
    "feedback": "data/feedback",
    "sft": "data/sft",
    "preference": "data/preference",
    "sft-seed": "data/sft-seed",
    "sft-instruction-feedback": "data/sft-instruction-feedback",
    "sft-sample-feedback": "data/sft-sample-feedback",
}


def release_dir(output: str | Path, version: str) -> Path:
    return Path(output) / f"v{version}"


def config_dir(config: str) -> str:
    """A config's folder: the subset configs `sft-METHOD-N` sit beside the others."""
    return CONFIG_DIRS.get(config, f"data/{config}")


def data_file_patterns(splits: Sequence[str] = ("train",), subsets: Sequence[str] = ()) -> dict[str, dict[str, str]]:
    """The `configs` data_files of the card, per config and split; a subset config has split `train` only."""
    patterns = {config: {split: f"{folder}/{split}-*" for split in splits} for config, folder in CONFIG_DIRS.items()}
    patterns.update({config: {"train": f"{config_dir(config)}/train-*"} for config in subsets})
    return patterns


# The files beside the data that a release writes (the card, its manifest, its published recipe).
RELEASE_FILES = ("README.md", "manifest.json", "recipe.toml")


def release_files(manifest: Manifest) -> list[str]:
    """Every file the release wrote, by its path in the release: what its manifest lists (each
    config's shards per split, the quality report's figures) and the card, manifest and recipe."""
    paths = list(RELEASE_FILES)
    for config, written in manifest.files.items():
        folder = config_dir(config)
        for split, sizes in written.splits.items():
            paths += [_shard_name(folder, split, index, sizes.shards) for index in range(sizes.shards)]
    if manifest.quality is not None:
        paths += [figure.file for figure in manifest.quality.figures]
    return sorted(paths)


def _shard_name(folder: str, split: str, index: int, shards: int) -> str:
    return f"{folder}/{split}-{index:05d}-of-{shards:05d}.parquet"


def _write_parquet(table: datasets.Dataset, folder: Path, max_shard_bytes: int, split: str = "train") -> dict[str, int]:
    folder.mkdir(parents=True, exist_ok=True)
    num_bytes = table.data.nbytes
    shards = max(1, math.ceil(num_bytes / max_shard_bytes))
    for index in range(shards):
        shard = table.shard(num_shards=shards, index=index, contiguous=True)
        shard.to_parquet(str(folder.parent / _shard_name(folder.name, split, index, shards)))
    download_size = sum(path.stat().st_size for path in folder.glob(f"{split}-*.parquet"))
    return {"num_bytes": num_bytes, "download_size": download_size, "shards": shards}


def _write_config(
    parts: datasets.Dataset | Mapping[str, datasets.Dataset], folder: Path, max_shard_bytes: int
) -> ConfigFiles:
    """One config's splits (a bare Dataset is split `train`): totals, plus per split."""
    splits = {"train": parts} if isinstance(parts, datasets.Dataset) else dict(parts)
    written = {
        split: SplitFiles(**_write_parquet(table, folder, max_shard_bytes, split), rows=len(table))
        for split, table in splits.items()
    }
    return ConfigFiles(
        num_bytes=sum(sizes.num_bytes for sizes in written.values()),
        download_size=sum(sizes.download_size for sizes in written.values()),
        shards=sum(sizes.shards for sizes in written.values()),
        splits=written,
    )


def write_release(
    output: str | Path,
    version: str,
    tables: Mapping[str, datasets.Dataset | Mapping[str, datasets.Dataset]],
    manifest: Manifest,
    render_card: Callable[[Manifest], str],
    max_shard_bytes: int = MAX_SHARD_BYTES,
    extra_files: Mapping[str, str] | None = None,
    add_assets: Callable[[Path, Manifest], Manifest] | None = None,
) -> Path:
    """Write every config as parquet (each split of it), then the manifest, the card (which describe the
    files) and `extra_files` (name → text, e.g. recipe.toml)."""
    final = release_dir(output, version)
    staging = final.with_name(f".{final.name}.partial")
    if staging.exists():
        shutil.rmtree(staging)

    def remove_staging() -> None:
        shutil.rmtree(staging, ignore_errors=True)

    with signals.cleanup_on_abort(remove_staging):
        try:
            files = {
                config: _write_config(tables[config], staging / config_dir(config), max_shard_bytes)
                for config in tables
            }
            manifest = manifest.model_copy(update={"files": files})
            if add_assets is not None:  # e.g. the quality report: figures next to the data, numbers in the manifest
                manifest = add_assets(staging, manifest)
            write(staging, manifest)
            (staging / "README.md").write_text(render_card(manifest), encoding="utf-8")
            for name, text in (extra_files or {}).items():
                (staging / name).write_text(text, encoding="utf-8")
        except BaseException:
            remove_staging()
            raise
    _move_into_place(staging, final)
    return final


def _move_into_place(staging: Path, final: Path) -> None:
    """Renames only: `final` is either the old complete release, absent for an instant, or the new one."""
    if final.exists():
        previous = final.with_name(f".{final.name}.old")
        shutil.rmtree(previous, ignore_errors=True)
        final.rename(previous)
        staging.rename(final)
        shutil.rmtree(previous, ignore_errors=True)
    else:
        staging.rename(final)
