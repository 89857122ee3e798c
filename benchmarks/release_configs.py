"""Rows, sizes and cost of a release's four configs, from a real build against the fake teacher.

Starts the project's fake OpenAI-compatible teacher, writes a LIMA-shaped seed, runs the real CLI as a
separate process with `--test-size`, then prints:

  - rows per config and split (from the manifest, checked against the parquet files);
  - each config's bytes on disk, as a ratio to `default`'s;
  - the time to derive `sft` + `preference` from the records and split all four configs by reference,
    as a share of the whole build's wall time measured in the same run (with an instant teacher, so
    the share is the largest it can be).

    python benchmarks/release_configs.py                                   # 200 references, 2000 records, --test-size 0.1
    python benchmarks/release_configs.py --keep-card card.md --repo-id my-org/refed   # and the card as published
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import datasets  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from refed_hf.job import hub_card  # noqa: E402
from refed_hf.release.manifest import read  # noqa: E402
from refed_hf.release.splits import held_out_references, split_by_reference  # noqa: E402
from refed_hf.release.training_configs import training_configs  # noqa: E402
from tests.fakes.seeds import write_lima_seed  # noqa: E402
from tests.fakes.teacher import FakeTeacher, TeacherFaults  # noqa: E402


def _rows_on_disk(release: Path, config: str, split: str) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in (release / "data" / config).glob(f"{split}-*.parquet"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--references", type=int, default=200)
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--test-size", default="0.1")
    parser.add_argument("--random-seed", type=int, default=0)
    parser.add_argument("--keep-card", type=Path, help="write the rendered card (README.md) here")
    parser.add_argument(
        "--repo-id", help="render the kept card as published to this repo (load lines pinned to the tag)"
    )
    args = parser.parse_args()

    fake = FakeTeacher(TeacherFaults(latency=0.0, words=12)).start()
    try:
        with tempfile.TemporaryDirectory(prefix="refed-configs-") as tmp:
            work = Path(tmp)
            write_lima_seed(work / "seed.jsonl", single=args.references)
            command = [
                sys.executable,
                "-m",
                "refed_hf.build",
                "--quiet",
                "--seed",
                "seed.jsonl",
                "--size",
                str(args.size),
                "--test-size",
                args.test_size,
                "--random-seed",
                str(args.random_seed),
                "--version",
                "1.0.0",
                "--output",
                "out",
            ]
            env = {**os.environ, "PYTHONPATH": str(REPO), "OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": fake.url}
            started = time.perf_counter()
            done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - started
            if done.returncode:
                sys.exit(f"build failed ({done.returncode}): {done.stderr.strip()}")
            release = work / "out" / "v1.0.0"
            manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
            print("command: python -m refed_hf.build " + " ".join(command[4:]))
            print(
                f"build: {manifest['records']} records from {manifest['references_used']} references, "
                f"{manifest['splits']['test_references']} held out; wall {wall:.1f} s (CLI process, fake teacher L=0)"
            )

            rows = manifest["splits"]["rows"]
            splits = list(rows["default"])
            print(f"{'config':<11}" + "".join(f"{s:>8}" for s in splits) + f"{'total':>8}{'bytes/default':>15}")
            for config, per_split in rows.items():
                for split, n in per_split.items():
                    assert _rows_on_disk(release, config, split) == n, (config, split)
                ratio = manifest["files"][config]["download_size"] / manifest["files"]["default"]["download_size"]
                print(
                    f"{config:<11}"
                    + "".join(f"{per_split[s]:>8}" for s in splits)
                    + f"{sum(per_split.values()):>8}"
                    + f"{ratio:>15.2f}"
                )

            # Cost of the new step, timed on the same records, against the whole build.
            records = datasets.concatenate_datasets([datasets.load_dataset(str(release), split=s) for s in splits])
            feedback = datasets.concatenate_datasets(
                [datasets.load_dataset(str(release), "feedback", split=s) for s in splits]
            )
            scratch = work / "scratch"
            scratch.mkdir()
            started = time.perf_counter()
            tables = {"default": records, "feedback": feedback, **training_configs(records, feedback, scratch)}
            held_out = held_out_references(records["reference_id"], float(args.test_size), args.random_seed)
            split_by_reference(tables, held_out, scratch)
            step = time.perf_counter() - started
            print(
                f"sft+preference+split: {step:.2f} s = {100 * step / wall:.1f}% of the build's wall time ({wall:.1f} s)"
            )
            if args.keep_card:
                if args.repo_id:
                    args.keep_card.write_text(hub_card(release, read(release), args.repo_id), encoding="utf-8")
                else:
                    shutil.copy(release / "README.md", args.keep_card)
                print(f"card: {args.keep_card}" + (f" (as published to {args.repo_id})" if args.repo_id else ""))
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
