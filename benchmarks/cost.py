"""What a REFED build costs, direct and through the Batch API, against the fake teacher.

Starts the project's fake OpenAI-compatible teacher (its Files and Batches endpoints included; it
reports `prompt_tokens_details.cached_tokens` for prompt prefixes it has seen, in 32-token blocks),
writes a LIMA-shaped seed and runs the real CLI as separate processes:

1. `--estimate` (the first 3 references built for real), printing its projection;
2. the full direct build in the same output (it reuses the sample from the cache);
3. the same build with `--batch`, into a fresh output, against a fresh fake;
4. the direct build again with `--ablations` in the same output (the paper's ablation configs): only
   the sample-level baseline's calls are new, and its line shows the release's calls and cost with them.

It prints the calls, the tokens (prompt, cached, completion), the cached share and the cost at the
price table's rates (gpt-4o-mini by default), each as measured and as ratios against their bounds
in the same run: batch cost / direct cost (the Batch API's price is half: bound 0.5), the estimate's
calls and tokens / the direct build's, and whether the batch build's records equal the direct's.

    python benchmarks/cost.py                      # 200 references, 2000 records
    python benchmarks/cost.py --references 50 --size 300
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import pyarrow.parquet as pq  # noqa: E402

from tests.fakes.batches import BatchFaults  # noqa: E402
from tests.fakes.seeds import write_lima_seed  # noqa: E402
from tests.fakes.teacher import FakeTeacher, TeacherFaults  # noqa: E402


def _cli(work: Path, fake: FakeTeacher, *args: str) -> tuple[str, float]:
    env = {
        **os.environ,
        "OPENAI_API_KEY": "sk-bench",
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(work / "hf"),
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "refed_hf.build", "--quiet", "--seed", "seed.jsonl", "--base-url", fake.url, *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"build failed ({' '.join(args)}):\n{done.stderr[-3000:]}")
    return done.stdout, time.monotonic() - started


def _records(release: Path) -> list[dict]:
    rows: list[dict] = []
    for config in ("default", "feedback"):
        for shard in sorted((release / "data" / config).glob("*.parquet")):
            rows += pq.read_table(shard).to_pylist()
    return rows


def _line(name: str, m: dict, wall: float) -> None:
    used, cost = m["teacher"]["used"], m["cost"]
    print(
        f"{name}: records={m['records']} calls={used['answers_used']} prompt_tokens={used['prompt_tokens']} "
        f"cached_tokens={used['cached_tokens']} completion_tokens={used['completion_tokens']} "
        f"cached_share={m['cached_share']:.1%} cost_direct=${cost['release_direct_usd']:.4f} "
        f"cost_batch=${cost['release_batch_usd']:.4f} priced_at={cost['priced_at']} wall={wall:.1f}s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--references", type=int, default=200)
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--teacher-model", default="gpt-4o-mini")
    parser.add_argument("--batch-duration", type=float, default=0.5, help="seconds the fake takes per batch")
    args = parser.parse_args()
    common = ("--size", str(args.size), "--teacher-model", args.teacher_model)
    with tempfile.TemporaryDirectory(prefix="refed-cost-") as tmp:
        work = Path(tmp)
        write_lima_seed(work / "seed.jsonl", single=args.references)

        fake = FakeTeacher(TeacherFaults()).start()
        try:
            estimate, estimate_wall = _cli(work, fake, *common, "--output", "direct", "--estimate")
            direct_out, direct_wall = _cli(work, fake, *common, "--output", "direct")
            direct = json.loads((work / "direct" / "v0.1.0" / "manifest.json").read_text())
            requests_before = fake.log.requests
            _, ablations_wall = _cli(work, fake, *common, "--output", "direct", "--ablations")
            ablation_requests = fake.log.requests - requests_before
        finally:
            fake.stop()
        print(estimate.rstrip())
        print(f"estimate wall={estimate_wall:.1f}s")
        _line("direct", direct, direct_wall)
        with_ablations = json.loads((work / "direct" / "v0.1.0" / "manifest.json").read_text())
        _line("direct+ablations", with_ablations, ablations_wall)
        print(
            f"ablations: requests to add them to the finished build={ablation_requests} "
            f"(bound 2 x records = {2 * with_ablations['records']}); configs "
            + ", ".join(f"{name} {n}" for name, n in with_ablations["ablations"]["rows"].items()),
            flush=True,
        )

        fake = FakeTeacher(TeacherFaults(), batch_faults=BatchFaults(duration=args.batch_duration)).start()
        try:
            _, batch_wall = _cli(work, fake, *common, "--output", "batched", "--batch", "--batch-poll-max", "1")
        finally:
            fake.stop()
        batched = json.loads((work / "batched" / "v0.1.0" / "manifest.json").read_text())
        _line("batch", batched, batch_wall)
        api = batched["batch_api"]
        print(
            f"batch: waves={api['waves']} batches={api['batches']} lines={api['lines']} "
            f"failed_lines={api['failed_lines']} retried_lines={api['retried_lines']}"
        )

        used = direct["teacher"]["used"]
        projected_calls = int(re.search(r"^calls:\s+(\d+)", estimate, re.MULTILINE).group(1))
        projected_prompt = int(re.search(r"^tokens:\s+(\d+) prompt", estimate, re.MULTILINE).group(1))
        projected_completion = int(re.search(r"\+ (\d+) completion", estimate).group(1))
        print(
            f"ratio batch cost / direct cost = "
            f"{batched['estimated_cost_usd'] / direct['estimated_cost_usd']:.3f} (bound 0.5)"
        )
        print(
            f"ratio estimate / actual: calls={projected_calls / used['answers_used']:.3f} "
            f"prompt_tokens={projected_prompt / used['prompt_tokens']:.3f} "
            f"completion_tokens={projected_completion / used['completion_tokens']:.3f} (bound 1.0)"
        )
        same = _records(work / "batched" / "v0.1.0") == _records(work / "direct" / "v0.1.0")
        print(f"batch records == direct records: {same}")
        del direct_out


if __name__ == "__main__":
    main()
