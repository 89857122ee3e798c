"""A seed's data files by split, read with the packaged builders (json, parquet, csv).

Splits are found the way `datasets` finds them (`train.jsonl`, `validation.jsonl`, `data/train-*`,
...; a lone file is `train`), for a local directory and for a Hub repo at a commit alike.
"""

from __future__ import annotations

import datasets
from datasets.data_files import DataFilesDict, get_data_patterns

from refed_hf.errors import SeedError

BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}


def builder_of(path: str) -> str | None:
    return next((kind for suffix, kind in BUILDERS.items() if path.endswith(suffix)), None)


def split_files(base_path: str, download_config: datasets.DownloadConfig | None = None) -> dict[str, list[str]]:
    """Data files of each split under `base_path` (a directory or `hf://datasets/ORG/NAME@SHA`)."""
    try:
        patterns = get_data_patterns(base_path, download_config=download_config)
        resolved = DataFilesDict.from_patterns(patterns, base_path=base_path, download_config=download_config)
    except FileNotFoundError:
        return {}
    found = {str(split): [f for f in files if builder_of(f)] for split, files in resolved.items()}
    return {split: sorted(files) for split, files in found.items() if files}


def read_split(files: list[str], split: str, where: str) -> datasets.Dataset:
    """One split's files with the packaged builder their extension names."""
    kinds = {builder_of(f) for f in files}
    if len(kinds) != 1:
        raise SeedError(f"split {split!r} of seed {where} mixes file kinds {sorted(map(str, kinds))}: keep one kind")
    return datasets.load_dataset(kinds.pop(), data_files={split: files}, split=split)
