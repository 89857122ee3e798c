"""What the tests share beyond fixtures: the real CLI run in or out of process, the fake teacher as a
context manager, the one way to build an environment, and the one way to read a build's cache.

Imported by conftest after it has set the Hugging Face environment, so importing the CLI here is safe.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from refed_hf.build import main
from tests.fakes.batches import BatchFaults
from tests.fakes.teacher import FakeTeacher, TeacherFaults

REPO = Path(__file__).resolve().parent.parent
TEST_KEY = "sk-test-0123456789abcdef"
HUB_TOKEN = "hf_test_abcdefghijklmnopqrstuvwxyz"

# A variable mapped to None is removed: a test says "unset" the same way in and out of process.
Env = Mapping[str, str | None]


@contextmanager
def running_teacher(
    faults: TeacherFaults | None = None, *, batch_faults: BatchFaults | None = None
) -> Iterator[FakeTeacher]:
    """A fake teacher serving for the `with` block, stopped however the block ends."""
    teacher = FakeTeacher(faults, batch_faults=batch_faults).start()
    try:
        yield teacher
    finally:
        teacher.stop()


def user_env(
    teacher: FakeTeacher | None = None, *, key: str | None = TEST_KEY, azure: bool = False, **more: str | None
) -> Env:
    """The variables a user sets: the API key and the teacher's URL when one is given (or, with `azure`,
    the short Azure names pointing at it), then any others."""
    env: dict[str, str | None]
    if azure:
        if teacher is None:
            raise ValueError("an Azure environment needs the teacher it points at")
        env = {
            "AZURE_ENDPOINT": teacher.url.removesuffix("/v1"),
            "AZURE_OPENAI_KEY": "azure-secret-key",
            "AZURE_VERSION": "2024-10-21",
        }
    else:
        env = {"OPENAI_API_KEY": key}
        if teacher is not None:
            env["OPENAI_BASE_URL"] = teacher.url
    return {**env, **more}


def set_env(monkeypatch: pytest.MonkeyPatch, env: Env) -> None:
    """Apply `env` to this process for one test; monkeypatch puts everything back afterwards."""
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def child_env(env: Env) -> dict[str, str]:
    """This process's environment with `env` applied, for a child that imports this checkout."""
    merged: dict[str, str | None] = {**os.environ, "PYTHONPATH": str(REPO), **env}
    return {name: value for name, value in merged.items() if value is not None}


def build(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`python -m refed_hf.build ARGS` in this process: exit code, stdout, stderr."""
    code = main(["--quiet", *args])
    out, err = capsys.readouterr()
    return code, out, err


def build_process(env: Env, cwd: Path, *args: str) -> subprocess.Popen[str]:
    """The CLI as a separate process, as a user runs it."""
    return subprocess.Popen(
        [sys.executable, "-m", "refed_hf.build", "--quiet", *args],
        cwd=cwd,
        env=child_env(env),
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

    outcome = dict(
        records=records, wanted=records, shortfall=0, feedback_rows=0, references_used=0, feedback_scope="used"
    )
    lengths = {name: {"mean": 100.0, "median": 100.0} for name in ("instruction", "response", "improved_response")}
    seed = {"source": seed_facts.get("name", ""), "rows": 0, "kept": 0, "dropped": {}, "shape": "lima", **seed_facts}
    statistics = {"records": records, "per_feature": {}, "lengths": lengths}
    return make_manifest(recipe, seed, outcome, {}, Ledger(), statistics, time.monotonic())


def cached_answers(output: Path) -> dict[str, str]:
    """The answers committed to the cache of the build writing to `output`, read from the file itself
    (not through the project's cache class, so a test checks what is on disk)."""
    with closing(sqlite3.connect(output / "cache.sqlite")) as db:
        return dict(db.execute("SELECT key, content FROM responses"))
