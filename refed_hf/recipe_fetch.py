"""Fetching a published recipe back by Hub reference: `--recipe hf://datasets/ORG/NAME@vX.Y.Z/recipe.toml`.

Its own module, importing neither the recipe nor `recipe.toml`'s writer: loading a recipe needs the
download, and writing `recipe.toml` needs the recipe, so either way round would be a cycle. The
download goes through `huggingface_hub` (from `HF_ENDPOINT`, cached in `HF_HOME`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from .errors import RecipeError

HUB_PREFIX = "hf://"


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
