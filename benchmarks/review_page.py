"""How long the review page of a 10,000-record release takes to show its first records.

Writes a synthetic release with the real release writer (10 records per reference, responses of about
180 words and improvements that change about an eighth of them and add a sentence), writes its review
page with `python -m refed_hf.review`, then loads the page from file:// in headless Chromium with
`--dump-dom` several times and prints:

  - the release's size and the time to write the page, and the page's size;
  - the page's own clock (`performance.now()`, from the start of navigation) when the script had drawn
    the first page of records: what a reader waits once the browser is up;
  - the wall time of a whole `chromium --screenshot` process (start-up, load, first records painted,
    one screenshot); `--dump-dom` is not timed for this, as serializing the page's 30 MB data block
    back out takes longer than loading it.

    python benchmarks/review_page.py                  # 10,000 records, 3 loads
    python benchmarks/review_page.py --records 50000 --runs 5
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.review_support import CHROMIUM, chromium, synthetic_release  # noqa: E402

FIRST_RENDER = re.compile(r'data-first-render-ms="(\d+)"')


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"error: no Chromium at {CHROMIUM}: apt-get install -y chromium", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="refed-review-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        release = synthetic_release(folder / "out", args.records)
        made = time.perf_counter() - started
        page = folder / "review.html"
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "refed_hf.review", str(release), "--output", str(page)],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        written = time.perf_counter() - started
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        in_page, wall = [], []
        for _ in range(args.runs):
            dom = chromium("--dump-dom", page.as_uri() + "#records").stdout
            found = FIRST_RENDER.search(dom)
            if not found or 'id="record-0"' not in dom:
                print("error: the page did not draw its first record", file=sys.stderr)
                return 1
            in_page.append(int(found.group(1)) / 1000)
            started = time.perf_counter()
            chromium("--window-size=1280,900", f"--screenshot={folder / 'shot.png'}", page.as_uri() + "#records")
            wall.append(time.perf_counter() - started)
        print(f"records:                      {args.records} ({args.records // 10} references)")
        print(f"release on disk:              {_size(release) / 2**20:.1f} MiB (written in {made:.1f} s)")
        print(f"review page:                  {_size(page) / 2**20:.1f} MiB (written in {written:.1f} s)")
        print(
            f"first records drawn (page):   median {statistics.median(in_page):.2f} s, "
            f"max {max(in_page):.2f} s over {args.runs} loads"
        )
        print(
            f"chromium --screenshot (wall): median {statistics.median(wall):.2f} s, "
            f"max {max(wall):.2f} s (browser start-up included)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
