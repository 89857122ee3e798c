"""Throughput, overhead and memory of a REFED build against the fake teacher.

Starts the project's fake OpenAI-compatible teacher (mean latency L, lognormal jitter sigma=0.3 with
the mean kept, a server-side concurrency cap C answered with 429 + Retry-After), writes a LIMA-shaped
seed, runs the real CLI as a separate process (start-up included) and prints one line per run:

  wall time, calls by stage, 429s, ideal = max(4*L, calls*L/C) (calls = the minimum the workload needs:
  2 per reference for feedback + per reference used 2 instruction calls + 2 per record),
  efficiency = ideal / wall, peak RSS of the build, and the build's CPU seconds per teacher call.

With --max-rpm (--max-tpm) the bound is the one that limit implies too: max(ideal, calls / (rpm/60))
(max(ideal, tokens used / (tpm/60))), and the most requests (tokens) started in any 60 s is printed.

    python benchmarks/throughput.py                       # the main target: 200 refs, 2000 records, L=0.5, C=64
    python benchmarks/throughput.py --preset all          # every figure of the throughput issue
    python benchmarks/throughput.py --references 100 --size 200 --latency 0.2 --cap 64
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fakes.seeds import write_lima_seed  # noqa: E402
from tests.fakes.teacher import FakeTeacher, TeacherFaults  # noqa: E402

PRESETS = {
    "issue2": dict(references=100, size=200, latency=0.2, cap=64, concurrency=64),
    "target": dict(references=200, size=2000, latency=0.5, cap=64, concurrency=64),
    "overload": dict(references=200, size=2000, latency=0.5, cap=64, concurrency=256),
    "rpm": dict(references=200, size=2000, latency=0.5, cap=None, concurrency=256, max_rpm=3000),
    "tpm": dict(references=200, size=2000, latency=0.5, cap=None, concurrency=256, max_tpm=1_000_000),
    "overhead": dict(references=200, size=2000, latency=0.0, cap=None, concurrency=64),
    "memory-10k": dict(references=600, size=10000, latency=0.0, cap=None, concurrency=64, words=4),
    "memory-100k": dict(references=6000, size=100000, latency=0.0, cap=None, concurrency=64, words=4),
    "resume-10k": dict(references=600, size=10000, latency=0.5, cap=None, concurrency=64, rerun=True),
}


def minimum_calls(references: int, size: int) -> int:
    used = math.ceil(size / 20)
    return 2 * references + 2 * used + 2 * size


def run(
    name: str,
    references: int,
    size: int,
    latency: float,
    cap: int | None,
    concurrency: int,
    max_rpm: int | None = None,
    max_tpm: int | None = None,
    words: int = 12,
    rerun: bool = False,
) -> None:
    fake = FakeTeacher(TeacherFaults(latency=latency, jitter_sigma=0.3, cap=cap, retry_after=1.0, words=words)).start()
    try:
        with tempfile.TemporaryDirectory(prefix="refed-bench-") as tmp:
            work = Path(tmp)
            write_lima_seed(work / "seed.jsonl", single=references)
            args = [
                sys.executable,
                "-m",
                "refed_hf.build",
                "--quiet",
                "--seed",
                "seed.jsonl",
                "--size",
                str(size),
                "--output",
                "out",
                "--concurrency",
                str(concurrency),
                "--base-url",
                fake.url,
            ]
            if max_rpm:
                args += ["--max-rpm", str(max_rpm)]
            if max_tpm:
                args += ["--max-tpm", str(max_tpm)]
            env = {
                **os.environ,
                "OPENAI_API_KEY": "sk-bench",
                "PYTHONPATH": str(REPO),
                "HF_HUB_OFFLINE": "1",
                "HF_HOME": str(work / "hf"),
            }
            walls = []
            for attempt in range(2 if rerun else 1):
                before = fake.log.requests
                start = time.monotonic()
                with tempfile.TemporaryFile("w+") as errors:
                    child = subprocess.Popen(
                        args, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=errors, text=True
                    )
                    # wait4 gives this child's own peak RSS and CPU time, start-up and writing included.
                    _, status, usage = os.wait4(child.pid, 0)
                    walls.append(time.monotonic() - start)
                    child.returncode = os.waitstatus_to_exitcode(status)
                    if child.returncode != 0:
                        errors.seek(0)
                        raise SystemExit(f"{name}: build failed:\n{errors.read()[-3000:]}")
                manifest = json.loads((work / "out" / "v0.1.0" / "manifest.json").read_text())
                _report(
                    name if attempt == 0 else f"{name} (rerun)",
                    manifest,
                    walls[-1],
                    fake.log.requests - before,
                    references,
                    size,
                    latency,
                    cap or concurrency,
                    max_rpm,
                    max_tpm,
                    peak_rss_mib=usage.ru_maxrss / 1024,
                    cpu_s=usage.ru_utime + usage.ru_stime,
                )
                if max_rpm:
                    print(f"{name}: most requests started in any 60 s = {fake.most_in_window(60)} (limit {max_rpm})")
                if max_tpm:
                    print(
                        f"{name}: most tokens in calls started in any 60 s = {fake.most_in_window(60, tokens=True)} (limit {max_tpm})"
                    )
            if rerun:
                print(f"{name}: rerun wall / first wall = {walls[1] / walls[0]:.3f}")
    finally:
        fake.stop()


def _report(
    name: str,
    m: dict,
    wall: float,
    requests: int,
    references: int,
    size: int,
    latency: float,
    limit: int,
    max_rpm: int | None,
    max_tpm: int | None,
    peak_rss_mib: float,
    cpu_s: float,
) -> None:
    calls = minimum_calls(references, size)
    ideal = max(4 * latency, calls * latency / limit)
    if max_rpm:
        ideal = max(ideal, calls / (max_rpm / 60))
    if max_tpm:  # the tokens this workload really used, at the limit's pace
        run = m["teacher"]["this_run"]
        ideal = max(ideal, (run["prompt_tokens"] + run["completion_tokens"]) / (max_tpm / 60))
    by_stage = m["teacher"]["this_run"]["by_stage"]
    answers = m["teacher"]["this_run"]["answers"]
    stage_calls = " ".join(f"{s}={c['answers']}" for s, c in by_stage.items())
    cpu_per_call = cpu_s / max(1, answers + m["teacher"]["this_run"]["cache_hits"]) * 1000
    efficiency = f"{ideal / wall:.3f}" if ideal > 0 else "n/a"
    print(
        f"{name}: records={m['records']} wall={wall:.2f}s calls={answers} ({stage_calls}) requests={requests} "
        f"429s={m['teacher']['this_run']['rate_limited']} ({m['teacher']['this_run']['rate_limited'] / max(1, answers):.1%}) "
        f"ideal={ideal:.2f}s efficiency={efficiency} peak_rss={peak_rss_mib:.0f}MiB "
        f"cpu={cpu_s:.1f}s ({cpu_per_call:.2f} ms/call)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=None, help=f"one of {', '.join(PRESETS)}, or 'all'")
    parser.add_argument("--references", type=int, default=200)
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--cap", type=int, default=64, help="server-side concurrency cap (0: none)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-rpm", type=int)
    parser.add_argument("--max-tpm", type=int)
    parser.add_argument("--words", type=int, default=12)
    parser.add_argument("--rerun", action="store_true", help="run a second time on the same output (all cached)")
    args = parser.parse_args()
    if args.preset:
        for name in PRESETS if args.preset == "all" else [args.preset]:
            run(name, **PRESETS[name])
        return
    options = {k: v for k, v in vars(args).items() if k != "preset"}
    options["cap"] = args.cap or None
    run("custom", **options)


if __name__ == "__main__":
    main()
