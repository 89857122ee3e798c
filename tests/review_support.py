"""For the review page's tests and benchmark: a synthetic release written with the real writer (any
size, hostile texts planted), and headless Chromium run the way it runs on this machine."""

from __future__ import annotations

import fcntl
import json
import os
import random
import select
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import datasets

from refed_hf.builder.drops import DropLog, dropped_file
from refed_hf.features import FEEDBACK_FEATURES, JUDGED_RECORD_FEATURES, RECORD_FEATURES
from refed_hf.recipe import load_recipe
from refed_hf.release.manifest import Filters, JudgeResults, Stage
from refed_hf.release.report import add_to_release
from refed_hf.release.writer import write_release
from tests.helpers import manifest_of

CHROMIUM = Path(os.environ.get("REFED_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Markup that would show itself if any of it were ever parsed as HTML: a handler that renames the
# page and marks the body, a script that does the same, and a `</script>` that would end the data block.
PWNED = "document.title='pwned';document.body.setAttribute('data-pwned','1')"
HOSTILE_SEED = f'<img src=x onerror="{PWNED}"> Explain </script><script>{PWNED}</script> please.'
HOSTILE_ANSWER = f"<script>{PWNED}</script> plain </script> <!-- & \u2028 <b>bold</b>"
VERSION = "1.0.0"

WORDS = (
    "the a of to and in model data answer step example detail because clear accurate context method result "
    "structure summary tone reason evidence practical audience concise explain first then finally however "
    "python function list value error test user question improve response feedback skill subject"
).split()


def _sentence(rng: random.Random, words: int) -> str:
    picked = [rng.choice(WORDS) for _ in range(words)]
    return " ".join(picked).capitalize() + "."


def _text(rng: random.Random, sentences: int) -> str:
    paragraphs = [" ".join(_sentence(rng, rng.randint(8, 18)) for _ in range(4)) for _ in range(sentences // 4 + 1)]
    return "\n\n".join(paragraphs)


def _improve(rng: random.Random, response: str) -> str:
    words = response.split(" ")
    changed = [rng.choice(WORDS) if rng.random() < 0.12 else word for word in words]
    return " ".join(changed) + "\n\n" + _sentence(rng, 20)


def _record(rng: random.Random, i: int, reference_id: str, hostile: bool) -> dict[str, Any]:
    response = _text(rng, 12)
    record = {
        "instruction": f"Instruction {i}: " + _sentence(rng, 14),
        "response": response,
        "analysis": {
            "original_strengths": [_sentence(rng, 10), _sentence(rng, 8)],
            "improvement_opportunities": [_sentence(rng, 10)],
            "relevant_feedback": [_sentence(rng, 12)],
        },
        "implementation_strategy": {
            "planned_changes": [_sentence(rng, 9), _sentence(rng, 9)],
            "rationale": _sentence(rng, 16),
        },
        "improved_response": _improve(rng, response),
        "reference_id": reference_id,
        "feature": "subject" if i % 2 == 0 else "skill",
        "teacher_model": "gpt-4o-mini",
    }
    if hostile:
        record["instruction"] = HOSTILE_ANSWER + " " + record["instruction"]
        record["improved_response"] = record["improved_response"] + "\n" + HOSTILE_ANSWER
        record["analysis"]["relevant_feedback"].append(HOSTILE_ANSWER)
    return record


def _reference(rng: random.Random, r: int, hostile: bool) -> dict[str, Any]:
    return {
        "reference_id": f"ref{r:06d}",
        "instruction": HOSTILE_SEED if hostile else "Seed question: " + _sentence(rng, 12),
        "response": (HOSTILE_SEED + "\n") if hostile else "" + _text(rng, 8),
        "subject_areas": ["programming", "writing"][: 1 + r % 2],
        "relevant_skills": ["explanation", "structure"],
        "response_feedback": {"strengths": [_sentence(rng, 8)], "improvements": [_sentence(rng, 10)]},
        "system": "",
        "seed_split": "train",
        "seed_row": r,
    }


def synthetic_release(output: Path, records: int, judge: bool = False, seed: int = 0) -> Path:
    """A release of `records` records (10 per reference) in OUTPUT/v1.0.0, written by the release
    writer with its quality report, and the dropped items beside it. Reference 0 and record 0 hold
    hostile markup; with `judge`, a `judge` column and manifest part."""
    rng = random.Random(seed)
    references = [_reference(rng, r, hostile=r == 0) for r in range(max(1, records // 10))]
    rows = [
        _record(rng, i, references[i // 10 % len(references)]["reference_id"], hostile=i == 0) for i in range(records)
    ]
    features = RECORD_FEATURES.copy()
    if judge:
        features = JUDGED_RECORD_FEATURES.copy()
        for i, row in enumerate(rows):
            side = "improved" if i % 4 else "original"
            row["judge"] = {
                "preferred": side,
                "original_first": side,
                "reason_original_first": _sentence(rng, 10),
                "improved_first": side,
                "reason_improved_first": HOSTILE_ANSWER if i == 0 else _sentence(rng, 10),
            }
    default = datasets.Dataset.from_list(rows, features=features)
    feedback = datasets.Dataset.from_list(references, features=FEEDBACK_FEATURES)
    dropped = {"refusal": 3, "length": 2, "seed_leakage": 1, "near_duplicate": 1}
    recipe = load_recipe(None, {"seed": "synthetic/seed", "size": records, "version": VERSION})
    base = manifest_of(recipe, {"name": "synthetic", "kind": "hub", "split": "train"}, records)
    manifest = base.model_copy(
        update={
            "created_at": "2026-01-01T00:00:00+00:00",
            "references_used": len(references),
            "estimated_cost_usd": 1.25,
            "teacher": base.teacher.model_copy(update={"endpoint": "OpenAI"}),
            "stages": {
                "improvements": Stage.model_validate({"in": records, "out": records, "failed": {"no_change": 1}})
            },
            "filters": Filters.model_validate(
                {"screened": records + 7, "kept": records, "dropped": dropped, "api_refusals": 0, "settings": {}}
            ),
        }
    )
    if judge:
        improved = sum(1 for row in rows if row["judge"]["preferred"] == "improved")
        manifest = manifest.model_copy(
            update={
                "judge": JudgeResults(
                    model="gpt-4o-mini",
                    records=records,
                    judged=records,
                    improved=improved,
                    original=records - improved,
                    tie=0,
                    disagreements=0,
                    win_rate=round(improved / records, 4),
                    tie_share=0.0,
                    disagreement_share=0.0,
                )
            }
        )
    release = write_release(
        output,
        VERSION,
        {"default": default, "feedback": feedback},
        manifest,
        lambda final: "# synthetic release\n",
        add_assets=add_to_release,
    )
    drops = DropLog(dropped_file(output, VERSION))
    for reason, count in dropped.items():
        for k in range(count):
            item = rows[k] if reason != "refusal" else {**rows[k], "response": HOSTILE_ANSWER}
            drops.record_drop("filters", reason, item)
    drops.record_drop(
        "improvements", "no_change", {"reference_id": "ref000000", "feature": "skill", "instruction": HOSTILE_SEED}
    )
    drops.finish()
    return release


def chromium(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Headless Chromium with a fresh profile and no network services, as root on this machine."""
    with tempfile.TemporaryDirectory(prefix="refed-chromium-") as profile:
        return subprocess.run(
            [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: it
    reads NUL-terminated JSON messages on fd 3 and writes its own on fd 4), so a test can press keys
    in a page and read its state without any extra package."""

    def __init__(self) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="refed-chromium-")
        to_child, self._send = os.pipe()
        self._receive, from_child = os.pipe()

        def wire() -> None:  # in the child, before exec: the protocol's two descriptors, kept across exec
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_child, from_child)]  # out of 3 and 4's way
            for number, fd in zip((3, 4), high):
                os.dup2(fd, number)
                os.set_inheritable(number, True)

        self._process = subprocess.Popen(
            [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={self._profile.name}", "--remote-debugging-pipe"],
            preexec_fn=wire,
            close_fds=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._next_id = 0
        self._session: str | None = None

    def call(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if self._session and not method.startswith("Target."):
            message["sessionId"] = self._session
        os.write(self._send, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" not in self._buffer:
                if time.monotonic() > deadline:
                    raise TimeoutError(method)
                ready, _, _ = select.select([self._receive], [], [], 1)
                if ready:
                    self._buffer += os.read(self._receive, 1 << 20)
            raw, self._buffer = self._buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", url=url)["targetId"]
        self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.wait_for("document.documentElement && document.documentElement.getAttribute('data-first-render-ms')")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(expression)

    def press(self, key: str) -> None:
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key=key, text=key if kind == "keyDown" else "")

    def type(self, text: str) -> None:
        self.call("Input.insertText", text=text)

    def close(self) -> None:
        self._process.kill()
        self._process.wait(timeout=30)
        os.close(self._send)
        os.close(self._receive)
        self._profile.cleanup()
