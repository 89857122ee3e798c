"""The review page of a release: its data gathered into one JSON document, rendered into one
self-contained HTML file.

Everything a reviewer reads is data from a seed or a teacher, so none of it is ever markup: the
overview is rendered by jinja2 with autoescaping, and the records, references and dropped items
travel as JSON inside a `<script type="application/json">` block (with `<`, `>` and `&` written as
JSON escapes, so no text can close the block) that the page's script renders with `textContent`.
The page loads nothing: a Content-Security-Policy allows no network request and no script but its
own (by hash), so even markup that got through would neither run nor call home.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from ..release.manifest import Manifest
from .diff import word_diff
from .judge import JUDGE_COLUMN, judge_summary, judgement
from .source import Release, rows

FEATURE_LABELS = {"subject": "subject area", "skill": "skill"}


def record_entry(index: int, split: str, row: dict[str, Any]) -> dict[str, Any]:
    """One record as the page carries it: the diff stands for both texts."""
    return {
        "n": index,
        "split": split,
        "ref": row["reference_id"],
        "feature": row["feature"],
        "instruction": row["instruction"],
        "diff": word_diff(row["response"], row["improved_response"]),
        "analysis": row["analysis"],
        "strategy": row["implementation_strategy"],
        "model": row.get("teacher_model", ""),
        "judge": judgement(row.get(JUDGE_COLUMN)),
    }


def _as_list(value: Any) -> list[str]:
    # The `paper` prompt set writes prose descriptions where `concise` writes lists of phrases.
    return [value] if isinstance(value, str) else list(value or [])


def reference_entry(split: str, row: dict[str, Any]) -> dict[str, Any]:
    feedback = row.get("response_feedback") or {}
    prose = feedback if isinstance(feedback, str) else ""  # the `paper` set's one prose feedback
    feedback = {} if prose else feedback
    return {
        "id": row["reference_id"],
        "split": split,
        "instruction": row.get("instruction", ""),
        "response": row.get("response", ""),
        "system": row.get("system", ""),
        "subject_areas": _as_list(row.get("subject_areas")),
        "skills": _as_list(row.get("relevant_skills")),
        "strengths": feedback.get("strengths", []),
        "improvements": feedback.get("improvements", []),
        "feedback": [prose] if prose else [],
        "seed_split": row.get("seed_split", ""),
        "seed_row": row.get("seed_row"),
    }


def dropped_entry(item: dict[str, Any]) -> dict[str, Any]:
    """A dropped item as the page carries it: with a diff when it had a response and an improvement."""
    if isinstance(item.get("response"), str) and isinstance(item.get("improved_response"), str):
        rest = {name: value for name, value in item.items() if name not in ("response", "improved_response")}
        return {**rest, "diff": word_diff(item["response"], item["improved_response"])}
    return item


def page_data(release: Release, manifest: Manifest, dropped: list[dict[str, Any]] | None) -> dict[str, Any]:
    """What the page's script renders: every record, every reference, and the dropped items."""
    records = [record_entry(i, split, row) for i, (split, row) in enumerate(rows(release.path, "default"))]
    references = [reference_entry(split, row) for split, row in rows(release.path, "feedback")]
    return {
        "release": release.shown,
        "version": manifest.version,
        "records": records,
        "references": references,
        "seed_texts": any(ref["instruction"] for ref in references),
        "dropped": None if dropped is None else [dropped_entry(item) for item in dropped],
    }


def overview(manifest: Manifest, data: dict[str, Any]) -> dict[str, Any]:
    """The numbers of the overview, from the manifest and the data (rendered by the template)."""
    records = data["records"]
    filters = manifest.filters.model_dump(mode="json") if manifest.filters is not None else {}
    dropped = data["dropped"]
    return {
        "records": len(records),
        "by_split": dict(Counter(record["split"] for record in records)),
        "by_feature": dict(Counter(record["feature"] for record in records)),
        "references": len(data["references"]),
        "references_with_records": len({record["ref"] for record in records}),
        "filters": filters,
        "stage_failures": {stage: counts.failed for stage, counts in manifest.stages.items() if counts.failed},
        "dropped_at_hand": None if dropped is None else dict(Counter(f"{i['stage']}: {i['reason']}" for i in dropped)),
        "judge": judge_summary(manifest, records),
        "quality": _quality_rows(manifest.quality.model_dump(mode="json") if manifest.quality is not None else {}),
    }


def _quality_rows(quality: dict[str, Any]) -> list[tuple[str, Any]]:
    """The release's quality figures as (name, value) rows; the figures' image files are left to the card."""
    shown = []
    for name, value in quality.items():
        if name == "figures":
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{key.replace('_', ' ')} {inner}" for key, inner in value.items())
        shown.append((name.replace("_", " "), value))
    return shown


def embedded_json(data: Any) -> str:
    """JSON that can sit inside a <script> block whatever it holds: no `<`, `>` or `&` appears raw
    (so no `</script>` or `<!--`), nor the two line separators older parsers choke on."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def csp_hash(text: str) -> str:
    """The Content-Security-Policy source that allows exactly this inline script or style."""
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def render(manifest: Manifest, data: dict[str, Any]) -> str:
    """The whole page, as one string."""
    # A manifest from an older build may lack a part: a missing one renders empty instead of failing.
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined)
    template = environment.from_string(_asset("template.html"))
    script, style = _asset("review.js"), _asset("review.css")
    return template.render(
        manifest=manifest,
        data=data,
        numbers=overview(manifest, data),
        data_json=Markup(embedded_json(data)),  # escaped by embedded_json, for a script block
        style=Markup(style),
        script=Markup(script),
        style_hash=csp_hash(style),
        script_hash=csp_hash(script),
        feature_labels=FEATURE_LABELS,
    )
