"""The README's picture of the quality report: a 2,000-record build against the fake teacher that
plants bad data (duplicates, seed copies, refusals in the text and through the API's `refusal`
field, truncated improvements), then `python -m refed_hf.report` on it. Prints the per-filter counts.

    python benchmarks/quality_demo.py                       # writes docs/quality-report.png
    python benchmarks/quality_demo.py --size 200 --out /tmp/q
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fakes.seeds import write_lima_seed  # noqa: E402
from tests.fakes.teacher import FakeTeacher, TeacherFaults  # noqa: E402

FAULTS = TeacherFaults(
    rate_duplicate=0.05, rate_seed_copy=0.02, rate_refusal=0.04, rate_refusal_field=0.02, rate_truncated=0.05
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--references", type=int, default=200)
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="where quality-report.png goes")
    args = parser.parse_args()
    fake = FakeTeacher(FAULTS).start()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENAI_API_KEY": "sk-fake", "OPENAI_BASE_URL": fake.url}
    try:
        with tempfile.TemporaryDirectory(prefix="refed-quality-") as tmp:
            work = Path(tmp)
            write_lima_seed(work / "seed.jsonl", single=args.references)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "refed_hf.build",
                    "--quiet",
                    "--seed",
                    "seed.jsonl",
                    "--size",
                    str(args.size),
                    "--output",
                    "out",
                ],
                cwd=work,
                env=env,
                check=True,
            )
            subprocess.run(
                [sys.executable, "-m", "refed_hf.report", "out/v0.1.0", "--out", "report"],
                cwd=work,
                env=env,
                check=True,
            )
            args.out.mkdir(parents=True, exist_ok=True)
            shutil.copy(work / "report" / "report.png", args.out / "quality-report.png")
            filters = json.loads((work / "out" / "v0.1.0" / "manifest.json").read_text())["filters"]
            print(f"per-filter counts: {json.dumps(filters)}")
            print(f"picture: {args.out / 'quality-report.png'}")
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
