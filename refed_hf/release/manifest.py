"""The release manifest: the resolved recipe and every count of how the release was made."""

from __future__ import annotations

import platform
import resource
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

from .. import __version__
from ..prompts import PROMPT_SET_VERSION, prompt_set_hash
from ..recipe import Recipe
from ..teacher.accounting import Ledger
from ..teacher.prices import PRICES_CHECKED, Usage, prices_for

LIBRARIES = ("datasets", "huggingface_hub", "openai", "pydantic", "tenacity", "pyarrow")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "refed-hf": __version__}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def make_manifest(
    recipe: Recipe,
    seed: dict[str, Any],
    outcome: dict[str, Any],
    stage_items: dict[str, tuple[int, int]],
    ledger: Ledger,
    statistics: dict[str, Any],
    started: float,
    offline_demo: bool = False,
    endpoint: str = "",
    batch: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest from plain values: the seed report, the synthesis outcome (records, wanted,
    shortfall, feedback_rows, references_used, feedback_scope) and items (in, out) per stage, in order.
    `endpoint` names the teacher's endpoint by kind, never by URL (nothing local is published)."""
    total = ledger.total()
    prices = prices_for(recipe.teacher_model, recipe.prices)

    def usd(usage: Usage, at_batch_rates: bool = recipe.batch) -> float | None:
        # None, not a guess, when the model's prices are unknown.
        return None if prices is None else round(prices.cost(usage, at_batch_rates), 6)

    return {
        "name": "REFED",
        "version": recipe.version,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "offline_demo": offline_demo,
        "recipe": recipe.public_dict(),
        "seed": seed,
        **{
            name: outcome[name]
            for name in ("records", "wanted", "shortfall", "feedback_rows", "references_used", "feedback_scope")
        },
        "stages": {
            stage: {
                "in": items_in,
                "out": items_out,
                "failed": dict(sorted(ledger.stage(stage).failures.items())),
            }
            for stage, (items_in, items_out) in stage_items.items()
        },
        "teacher": {
            "model": recipe.teacher_model,
            "endpoint": endpoint,  # its kind only ("OpenAI", ...): never the URL
            "this_run": {**total.as_dict(), "by_stage": {s: c.as_dict() for s, c in ledger.stages.items()}},
            "used": {
                "answers_used": total.used_answers,
                "prompt_tokens": total.used_prompt_tokens,
                "completion_tokens": total.used_completion_tokens,
                "cached_tokens": total.used_cached_tokens,
            },
        },
        "estimated_cost_usd": usd(total.used_usage()),
        "this_run_cost_usd": usd(total.usage()),
        "cost": {
            "priced_at": "batch" if recipe.batch else "direct",
            "prices_per_million_usd": prices.as_dict() if prices else None,
            "prices_checked": PRICES_CHECKED,
            "release_direct_usd": usd(total.used_usage(), False),
            "release_batch_usd": usd(total.used_usage(), True),
        },
        "cached_share": round(total.used_cached_tokens / total.used_prompt_tokens, 4)
        if total.used_prompt_tokens
        else 0.0,
        "batch_api": batch,
        "statistics": statistics,
        "wall_time_s": round(time.monotonic() - started, 3),
        "cpu_time_s": round(time.process_time(), 3),
        "peak_rss_mib": round(_peak_rss_bytes() / 2**20, 1),
        "prompt_set": {"version": PROMPT_SET_VERSION, "hash": prompt_set_hash()},
        "library_versions": library_versions(),
    }
