"""The recipe a release is published with (`recipe.toml`), and fetching one back by Hub reference.

`recipe.toml` holds every field that shapes the data and nothing about where or how fast it was
built: no base URL, no output directory, no model file path, no key (keys never are recipe fields).
A local seed is named by its file name only. `--recipe hf://datasets/ORG/NAME@vX.Y.Z/recipe.toml`
downloads it with `huggingface_hub` (from `HF_ENDPOINT`, cached in `HF_HOME`) and builds from it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import tomli_w

from .errors import RecipeError
from .recipe import CONTENT_FIELDS, Recipe, is_local_seed

RECIPE_FILE = "recipe.toml"
HUB_PREFIX = "hf://"
# Beyond the content fields: a build with the embedded local teacher asks it with capped schemas,
# within its context: both change the answers.
LOCAL_FIELDS = ("offline", "local_context")


def published_fields(recipe: Recipe, seed_sha: str | None = None) -> dict[str, Any]:
    """The fields `recipe.toml` holds, in the recipe's order, as the manifest publishes them (a local
    seed by its name only). A Hub seed's revision is pinned to the commit the build read, so a
    rebuild reads the same data even after the seed's `main` has moved on."""
    names = [*CONTENT_FIELDS, *(LOCAL_FIELDS if recipe.local else ())]
    # TOML has no null: a field left unset is left out, and reads back as its default.
    fields = {name: value for name, value in recipe.public_dict().items() if name in names and value is not None}
    if seed_sha and not is_local_seed(recipe.seed):
        fields["seed_revision"] = seed_sha
    return fields


PUBLISHED_HEADER = "# The recipe of this REFED release: every field that shapes the data."
# Releases published before prompt sets were selectable were built with today's `concise` wording; their
# recipe.toml does not name it, and rebuilding one must not switch it to the newer default.
EARLIER_PROMPT_SET = "concise"


def with_earlier_defaults(text: str, data: dict[str, Any]) -> dict[str, Any]:
    """A published recipe's fields, with the prompt set it was built with when it predates the field."""
    if text.startswith(PUBLISHED_HEADER) and "prompt_set" not in data:
        return {**data, "prompt_set": EARLIER_PROMPT_SET}
    return data


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
        header.append(f"# The seed is a local file or directory: run from where `{Path(recipe.seed).name}` is.")
    return "\n".join(header) + "\n\n" + tomli_w.dumps(published_fields(recipe, seed_sha))


def is_hub_reference(value: str | Path | None) -> bool:
    return isinstance(value, str) and value.startswith(HUB_PREFIX)


def fetch_recipe(reference: str) -> Path:
    """Download `hf://datasets/ORG/NAME@REVISION/PATH` and return the local copy."""
    # Imported here: the CLI sets huggingface_hub's environment before its first import.
    from huggingface_hub import hf_hub_download, parse_hf_uri  # noqa: PLC0415
    from huggingface_hub.errors import (  # noqa: PLC0415
        EntryNotFoundError,
        HfHubHTTPError,
        HfUriError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    form = "hf://datasets/ORG/NAME@vX.Y.Z/recipe.toml"
    try:
        uri = parse_hf_uri(reference)
    except HfUriError as exc:
        raise RecipeError(f"bad --recipe {reference}: {exc.msg} (the form is {form})") from None
    if uri.type != "dataset" or not uri.path_in_repo:
        raise RecipeError(f"bad --recipe {reference}: not a file of a dataset repo (the form is {form})")
    where = f"{uri.id}@{uri.revision or 'main'}"
    hub_logger = logging.getLogger("huggingface_hub")
    level = hub_logger.level
    hub_logger.setLevel(logging.ERROR)  # its retry warnings would bury the one-line error
    try:
        return Path(hf_hub_download(uri.id, uri.path_in_repo, repo_type="dataset", revision=uri.revision))
    except LocalEntryNotFoundError:  # before EntryNotFoundError, its base class
        raise RecipeError(
            f"cannot reach the Hub to fetch {reference} and it is not in the local cache (check the network or HF_ENDPOINT)"
        ) from None
    except RevisionNotFoundError:
        raise RecipeError(
            f"recipe not found: {uri.id} has no revision {uri.revision!r} (check the tag in --recipe)"
        ) from None
    except RepositoryNotFoundError:
        raise RecipeError(
            f"recipe not found: no dataset repo {uri.id} on the Hub (check --recipe; set HF_TOKEN if it is private)"
        ) from None
    except EntryNotFoundError:
        raise RecipeError(
            f"recipe not found: {where} has no file {uri.path_in_repo} (check the path in --recipe)"
        ) from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "no response"
        raise RecipeError(f"cannot fetch {reference}: HTTP {status} from the Hub (retry, or check HF_TOKEN)") from None
    except OSError as exc:
        raise RecipeError(
            f"cannot fetch {reference}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__} (check the network or HF_ENDPOINT)"
        ) from None
    finally:
        hub_logger.setLevel(level)
