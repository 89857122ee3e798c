"""The recipe a release is published with (`recipe.toml`).

`recipe.toml` holds every field that shapes the data and nothing about where or how fast it was
built: no base URL, no output directory, no model file path, no key (keys never are recipe fields).
Which fields those are is declared on each field (`shapes_data`, `refed_hf/recipe_fields.py`), not
listed here. A local seed is named by its file name only. `recipe_fetch` downloads one back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w

from .recipe import CONTENT_FIELDS, LOCAL_TEACHER_FIELDS, PUBLISHED_HEADER, Recipe, is_local_seed

RECIPE_FILE = "recipe.toml"


def published_fields(recipe: Recipe, seed_sha: str | None = None) -> dict[str, Any]:
    """The fields `recipe.toml` holds, in the recipe's order, as the manifest publishes them (a local
    seed by its name only). A Hub seed's revision is pinned to the commit the build read, so a
    rebuild reads the same data even after the seed's `main` has moved on."""
    names = [*CONTENT_FIELDS, *(LOCAL_TEACHER_FIELDS if recipe.local else ())]
    # TOML has no null: a field left unset is left out, and reads back as its default.
    fields = {name: value for name, value in recipe.public_dict().items() if name in names and value is not None}
    if seed_sha and not is_local_seed(recipe.seed):
        fields["seed_revision"] = seed_sha
    return fields


def recipe_toml(recipe: Recipe, seed_sha: str | None = None) -> str:
    """The text of `recipe.toml`: a header saying how to rebuild, then the fields."""
    header = [
        PUBLISHED_HEADER,
        "# Rebuild it (from your cache: the same data; from scratch: the same method, seed and prompts):",
        f"#   python -m refed_hf.build --recipe hf://datasets/ORG/NAME@v{recipe.version}/{RECIPE_FILE} --output DIR",
        f"# or, with this file at hand: python -m refed_hf.build --recipe {RECIPE_FILE} --output DIR",
    ]
    if recipe.azure:
        header.append(
            f"# Built on Azure OpenAI: add --azure (teacher_model is the deployment name {recipe.teacher_model})."
        )
    if recipe.teacher_gguf:
        header.append(
            f"# Built with a local GGUF teacher: add --teacher-gguf PATH to your copy of {recipe.teacher_model}.gguf"
        )
    if is_local_seed(recipe.seed) and recipe.seed != "demo":
        header.append(
            f"# The seed is a local file or directory: add --seed PATH to your copy of `{Path(recipe.seed).name}`."
        )
    return "\n".join(header) + "\n\n" + tomli_w.dumps(published_fields(recipe, seed_sha))
