"""A seed's data files by split, read with the packaged builders (json, parquet, csv).

Splits are found the way `datasets` finds them (`train.jsonl`, `validation.jsonl`, `data/train-*`,
...; a lone file is `train`), for a local directory and for a Hub repo at a commit alike.
"""

from __future__ import annotations

import codecs
from pathlib import Path

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
    kind = kinds.pop()
    if kind in TEXT_BUILDERS:
        for file in files:
            if Path(file).is_file():  # a local file; a Hub file is checked where it is read
                check_utf8(Path(file), where)
    return datasets.load_dataset(kind, data_files={split: files}, split=split)


# Builders of text files: JSON and CSV are read as UTF-8, and a byte that is not (a UTF-16 file, a
# Latin-1 export) would reach the records as an error deep inside `datasets` or Arrow.
TEXT_BUILDERS = {"json", "csv"}


def check_utf8(path: Path, where: str) -> None:
    """SeedError naming the first byte that is not UTF-8, before anything reads the file."""
    named = where if Path(where).name == path.name else f"{where}: {path.name}"
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                raise SeedError(
                    f"{named} is not UTF-8 text (byte {offset + exc.start} is {block[exc.start]:#04x}): "
                    "save it as UTF-8"
                ) from None
            offset += len(block)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise SeedError(f"{named} is not UTF-8 text (it ends inside a character): save it as UTF-8") from None
