"""A seed from local files: a file, a directory of data files (one split per file name, as
`datasets` names them), a `save_to_disk` directory, or the bundled `demo` set."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from typing import Any

import datasets

from refed_hf.errors import SeedError

from .seed_files import builder_of, read_split, split_files

DEMO_SEED = "demo"
# Found through the package, so it is the same file in a checkout, an editable install and a wheel.
DEMO_SEED_FILE = Path(str(resources.files("refed_hf") / "data" / "demo_seed.jsonl"))


def _sha256(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _no_split(source: str, split: str, available: list[str]) -> SeedError:
    return SeedError(f"seed {source} has no split {split!r}; it has {sorted(available)}: pass one to --seed-split")


def read_local(source: str, split: str) -> tuple[datasets.Dataset, dict[str, Any]]:
    """The split's rows and what the release may say of them: the file name and its sha256, no path."""
    path = DEMO_SEED_FILE if source == DEMO_SEED else Path(source).expanduser()
    name = DEMO_SEED if source == DEMO_SEED else path.name
    if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise _no_split(source, split, list(loaded))
            loaded = loaded[split]
        files = sorted(p for p in path.rglob("*.arrow"))
    elif path.is_dir():
        by_split = split_files(str(path))
        if not by_split:
            raise SeedError(f"seed directory {source} holds no .json, .jsonl, .parquet or .csv file")
        if split not in by_split:
            raise _no_split(source, split, list(by_split))
        loaded = read_split(by_split[split], split, source)
        files = [Path(f) for f in by_split[split]]
    elif path.is_file():
        if builder_of(path.name) is None:
            raise SeedError(f"seed file {source} is not .json, .jsonl, .parquet or .csv")
        if split != "train":  # a lone file is one split, as `datasets` reads it
            raise _no_split(source, split, ["train"])
        loaded = read_split([str(path)], "train", source)
        files = [path]
    else:
        raise SeedError(f"seed path not found: {source} (check --seed)")
    provenance = {
        "kind": "bundled" if source == DEMO_SEED else "local",
        "name": name,
        "split": split,
        "sha256": _sha256(files),
        "license": "CC0-1.0" if source == DEMO_SEED else None,
        "gated": False,
        "private": False,
    }
    return loaded, provenance
