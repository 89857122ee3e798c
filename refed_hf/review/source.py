"""Where a review's data comes from: a release folder on disk or a tag on the Hub, and, for a release
built here, the items its build dropped (kept beside the build's cache, never published)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ..builder.drops import dropped_file
from ..errors import ManifestError, ReviewError
from ..release.manifest import MANIFEST_FILE, Manifest, read
from ..release.splits import TEST, TRAIN
from ..release.writer import CONFIG_DIRS

HUB_PREFIX = "hf://"
BATCH = 1024


@dataclass(frozen=True)
class Release:
    path: Path  # the folder holding manifest.json and data/ (a download for a Hub release)
    shown: str  # how the page names it: the hf:// URL, or the folder's name (never a local path)
    local: bool


def locate(release: str, download_into: Path) -> Release:
    """A local folder as it is; an hf://datasets/ORG/NAME@REVISION downloaded (manifest and data) into
    `download_into`, the same way `refed-hf report` reads one."""
    if release.startswith(HUB_PREFIX):
        from ..report import _download  # noqa: PLC0415 - huggingface_hub reads HF_ENDPOINT at import

        return Release(_download(release, download_into), release, local=False)
    path = Path(release).expanduser()
    return Release(path, path.resolve().name, local=True)


def read_manifest(release: Path, shown: str) -> Manifest:
    """The release's manifest, typed: the one place the review reads it."""
    file = release / MANIFEST_FILE
    if not file.is_file() or not _shards(release, "default"):
        raise ReviewError(
            f"{shown} is not a REFED release (no manifest.json or data/default/*.parquet): "
            "pass a release directory such as ./refed-release/v1.0.0 or hf://datasets/ORG/NAME@v1.0.0"
        )
    try:
        return read(file)
    except ManifestError as exc:
        raise ReviewError(f"cannot read {shown}/manifest.json ({exc}): is the release complete?") from None


def _shards(release: Path, config: str) -> list[Path]:
    """train shards first, then test: the order the page numbers the records in."""
    folder = release / CONFIG_DIRS[config]
    return [*sorted(folder.glob(f"{TRAIN}-*.parquet")), *sorted(folder.glob(f"{TEST}-*.parquet"))]


def rows(release: Path, config: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(split, row) of a config, read a batch at a time."""
    for shard in _shards(release, config):
        split = shard.name.split("-", 1)[0]
        for batch in pq.ParquetFile(shard).iter_batches(batch_size=BATCH):
            for row in batch.to_pylist():
                yield split, row


def dropped_items(release: Release, manifest: Manifest, explicit: Path | None) -> list[dict[str, Any]] | None:
    """The items the build dropped: from `explicit`, or beside a local release (OUTPUT/dropped-vX.Y.Z.jsonl);
    None when not at hand (a Hub release, or a build from before the list was kept)."""
    file = explicit
    if file is None and release.local:
        file = dropped_file(release.path.resolve().parent, manifest.version)
        if not file.is_file():
            return None
    if file is None:
        return None
    try:
        lines = file.read_text(encoding="utf-8").split("\n")  # not splitlines(): texts may hold U+2028
        return [json.loads(line) for line in lines if line.strip()]
    except (OSError, ValueError) as exc:
        raise ReviewError(f"cannot read the dropped items {file} ({exc}): pass a dropped-vX.Y.Z.jsonl file") from None
