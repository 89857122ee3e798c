"""What a release may say about where it came from: public names only, never local paths or URLs.

A local seed is named by its file name and sha256, the teacher endpoint by its kind (an internal
hostname is nobody's business), and the seed's own texts are republished only when the seed is public.
"""

from __future__ import annotations

from typing import Any

import datasets

FEEDBACK_TEXT_COLUMNS = ("instruction", "response", "system")


def endpoint_description(azure: bool, base_url: str | None, model: str, local: bool) -> str:
    """The teacher endpoint as the card and manifest name it."""
    if local:
        return f"an embedded llama.cpp server serving {model}"
    if azure:
        return "Azure OpenAI"
    if base_url is None or base_url.rstrip("/") in ("https://api.openai.com/v1", "https://api.openai.com"):
        return "OpenAI"
    return f"an OpenAI-compatible server serving {model}"


def include_feedback_text(mode: str, seed: dict[str, Any]) -> bool:
    """`--feedback-text`: `auto` republishes the seed's texts unless the seed is gated or private."""
    if mode == "include":
        return True
    if mode == "omit":
        return False
    return not (seed.get("gated") or seed.get("private"))


def omit_seed_texts(feedback: datasets.Dataset) -> datasets.Dataset:
    """The feedback table without the seed's texts; reference_id, the feedback and the row's place in
    the seed (seed_split, seed_row) stay, so anyone with access to the seed can join them back."""
    present = [name for name in FEEDBACK_TEXT_COLUMNS if name in feedback.column_names]

    def blank(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return {name: [""] * len(batch[name]) for name in present}

    return feedback.map(blank, batched=True, features=feedback.features, desc="Omitting seed texts")
