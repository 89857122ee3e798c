"""Running the real CLI from tests, in this process or in a child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from refed_hf.build import main

REPO = Path(__file__).resolve().parent.parent


def build(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`python -m refed_hf.build ARGS` in this process: exit code, stdout, stderr."""
    code = main(["--quiet", *args])
    out, err = capsys.readouterr()
    return code, out, err


def build_process(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[str]:
    """The CLI as a separate process, as a user runs it."""
    return subprocess.Popen(
        [sys.executable, "-m", "refed_hf.build", "--quiet", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def manifest(release: Path) -> dict[str, Any]:
    return json.loads((release / "manifest.json").read_text(encoding="utf-8"))


def manifest_of(recipe: Any, seed_facts: dict[str, Any], records: int = 0) -> Any:
    """A manifest as a build of `recipe` on a seed described by `seed_facts` would start it, no call made."""
    import time

    from refed_hf.release.manifest import make_manifest
    from refed_hf.teacher.accounting import Ledger

    outcome = dict(records=records, wanted=records, shortfall=0, feedback_rows=0, references_used=0, rounds=1)
    lengths = {name: {"mean": 100.0, "median": 100.0} for name in ("instruction", "response", "improved_response")}
    seed = {"source": seed_facts.get("name", ""), "rows": 0, "kept": 0, "dropped": {}, "shape": "lima", **seed_facts}
    statistics = {"records": records, "per_feature": {}, "lengths": lengths}
    return make_manifest(recipe, seed, outcome, {}, Ledger(), statistics, time.monotonic())
