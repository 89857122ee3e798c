"""Calls paid per record kept, against the fake teacher: one table, rerunnable on any checkout.

Runs the real CLI as a separate process (start-up included) on four workloads and prints one row each:

  target       200 references, 2,000 records, 500 ms latency, 64 in flight, default flags (filters on)
  target-off   the same with every filter off
  dup15        100 references, 500 records, a fake that plants 15% duplicate instructions (50 ms latency)
  small        --size 20 on a 1,000-reference seed (500 ms latency)

Columns: records kept, calls answered, calls per kept record, responses paid per kept record,
wall time, efficiency = ideal / wall with ideal = max(4 x latency, minimum calls x latency / 64)
(minimum calls as `throughput.py` counts them: feedback for every reference, 2 instruction calls per
reference used, 2 per record), the time to the first record and the speculative calls the build reports
(when it reports them).

    python benchmarks/pay_for_kept.py                          # this checkout, every workload
    python benchmarks/pay_for_kept.py --repo /tmp/base small   # another checkout's code, one workload
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from benchmarks.throughput import minimum_calls  # noqa: E402
from tests.fakes.seeds import write_lima_seed  # noqa: E402
from tests.fakes.teacher import FakeTeacher, TeacherFaults  # noqa: E402

FILTERS_OFF = ("--dedup-threshold", "off", "--no-seed-leakage-filter", "--no-refusal-filter", "--no-length-filter")
WORKLOADS = {
    "target": dict(references=200, size=2000, latency=0.5, faults={}, flags=()),
    "target-off": dict(references=200, size=2000, latency=0.5, faults={}, flags=FILTERS_OFF),
    "dup15": dict(references=100, size=500, latency=0.05, faults={"rate_duplicate": 0.15}, flags=()),
    "small": dict(references=1000, size=20, latency=0.5, faults={}, flags=()),
}
CONCURRENCY = 64


def run(name: str, repo: Path, references: int, size: int, latency: float, faults: dict, flags: tuple) -> str:
    fake = FakeTeacher(TeacherFaults(latency=latency, jitter_sigma=0.3, cap=CONCURRENCY, retry_after=1.0, **faults))
    fake.start()
    try:
        with tempfile.TemporaryDirectory(prefix="refed-pay-") as tmp:
            work = Path(tmp)
            write_lima_seed(work / "seed.jsonl", single=references)
            args = [sys.executable, "-m", "refed_hf.build", "--quiet", "--seed", "seed.jsonl", "--size", str(size)]
            args += ["--output", "out", "--concurrency", str(CONCURRENCY), "--base-url", fake.url, *flags]
            env = {
                **os.environ,
                "OPENAI_API_KEY": "sk-bench",
                "PYTHONPATH": str(repo),
                "HF_HUB_OFFLINE": "1",
                "HF_HOME": str(work / "hf"),
            }
            started = time.monotonic()
            done = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True)
            wall = time.monotonic() - started
            if done.returncode != 0:
                raise SystemExit(f"{name}: build failed:\n{done.stderr[-3000:]}")
            m = json.loads((work / "out" / "v0.1.0" / "manifest.json").read_text())
    finally:
        fake.stop()
    run_ = m["teacher"]["this_run"]
    calls = run_["answers"]
    responses = run_["by_stage"].get("responses", {}).get("answers", 0)
    kept = m["records"]
    ideal = max(4 * latency, minimum_calls(references, size) * latency / CONCURRENCY)
    refill = m.get("refill") or {}
    first = refill.get("first_record_s")
    return (
        f"| {name} | {kept} | {calls} | {calls / kept:.2f} | {responses / kept:.3f} | {wall:.1f} s "
        f"| {ideal / wall:.2f} | {'n/a' if first is None else f'{first:.1f} s'} "
        f"| {refill.get('speculative_calls', 'n/a')} | {m['references_used']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workloads", nargs="*", default=list(WORKLOADS), help=f"of {', '.join(WORKLOADS)}")
    parser.add_argument("--repo", type=Path, default=HERE, help="the checkout whose code is measured")
    args = parser.parse_args()
    print(
        "| workload | kept | calls | calls / kept | responses / kept | wall | efficiency | first record "
        "| speculative calls | references used |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.workloads:
        print(run(name, args.repo.resolve(), **WORKLOADS[name]), flush=True)


if __name__ == "__main__":
    main()
