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
