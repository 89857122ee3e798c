"""A seed from the Hugging Face Hub, read at one commit whatever the repo's layout.

The revision (branch, tag or sha) is resolved to a commit sha once; everything is then read at that
sha, which the release records. A repo without a loading script loads through `load_dataset(repo)`;
a repo that holds one (which `datasets` no longer runs, e.g. GAIR/lima) has its split's data files
read directly with the packaged builders, at `hf://datasets/ORG/NAME@SHA/...`. Every way this can
fail that the user can fix ends in one line naming the problem and the fix.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import datasets
from huggingface_hub import HfApi, constants, hf_hub_url
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from refed_hf.errors import SeedError

from .seed_files import builder_of, read_split, split_files

log = logging.getLogger(__name__)

CARD_FILES = {"README.md", ".gitattributes"}


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection failures of whichever HTTP library this huggingface_hub sends with (httpx2 in 2.x,
    httpx in 1.x, requests before): no new dependency, whatever the version installed."""
    found: list[type[BaseException]] = [OfflineModeIsEnabled, ConnectionError, TimeoutError]
    for module, name in (
        ("httpx2", "TransportError"),
        ("httpx", "TransportError"),
        ("requests", "ConnectionError"),
        ("requests", "Timeout"),
    ):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


# No connection at all: the user may be offline, where a local seed still works.
UNREACHABLE = _transport_errors()


def _unreachable(repo: str, exc: BaseException) -> SeedError:
    return SeedError(
        f"cannot reach the Hugging Face Hub to load seed {repo} ({type(exc).__name__}): check the network "
        "(and HF_ENDPOINT, HF_HUB_OFFLINE); a local seed (--seed ./pairs.jsonl) works offline"
    )


def _gated(repo: str) -> SeedError:
    return SeedError(
        f"seed {repo} is a gated dataset and this account has no access to its files: accept its terms on "
        f"{constants.ENDPOINT}/datasets/{repo}, then set HF_TOKEN=hf_... or run `hf auth login`"
    )


def _not_found(repo: str) -> SeedError:
    return SeedError(
        f"seed {repo} was not found on the Hub: the dataset repo does not exist or is private "
        "(check --seed; for a private repo set HF_TOKEN or run `hf auth login` with an account that can read it)"
    )


def _missing_revision(api: HfApi, repo: str, revision: str) -> SeedError:
    try:
        refs = api.list_repo_refs(repo, repo_type="dataset")
        known = f"branches {[b.name for b in refs.branches]}, tags {[t.name for t in refs.tags]}"
    except HfHubHTTPError:
        known = "no branch or tag could be listed"
    return SeedError(
        f"seed {repo} has no revision {revision!r}; it has {known}: pass one of them or a commit sha to --seed-revision"
    )


def _license(info: Any) -> str | None:
    card = getattr(info, "card_data", None)
    value = card.get("license") if card is not None else None
    if isinstance(value, list):
        return ", ".join(map(str, value)) or None
    return str(value) if value else None


def _check_access(api: HfApi, repo: str, sha: str, files: list[str]) -> None:
    """A gated repo lists its files and shows its card to anyone: ask for one data file to know."""
    probe = next((f for f in files if builder_of(f)), None) or next((f for f in files if f not in CARD_FILES), None)
    if probe is None:
        return
    try:
        api.get_hf_file_metadata(url=hf_hub_url(repo, probe, repo_type="dataset", revision=sha))
    except GatedRepoError:
        raise _gated(repo) from None
    except RepositoryNotFoundError:
        raise _not_found(repo) from None


def _read_script_repo(repo: str, sha: str, script: str, config: str | None, split: str) -> datasets.Dataset:
    if config is not None:
        raise SeedError(
            f"seed {repo} holds a loading script ({script}): its data files are read directly, "
            "so it has no configs to choose: drop --seed-config"
        )
    by_split = split_files(f"hf://datasets/{repo}@{sha}")
    if not by_split:
        raise SeedError(
            f"seed {repo} holds a loading script ({script}) and no .json, .jsonl, .parquet or .csv data file"
        )
    if split not in by_split:
        raise SeedError(
            f"seed {repo} has no split {split!r} at {sha[:12]}; it has {sorted(by_split)}: pass one to --seed-split"
        )
    files = by_split[split]
    names = ", ".join(f.split(f"@{sha}/", 1)[-1] for f in files)
    log.warning(
        "seed %s holds a loading script (%s), which datasets no longer runs: reading its %s files (%s) "
        "at %s with the packaged builder",
        repo,
        script,
        split,
        names,
        sha[:12],
    )
    return read_split(files, split, repo)


def _read_plain_repo(repo: str, sha: str, config: str | None, split: str) -> tuple[datasets.Dataset, str | None]:
    configs = datasets.get_dataset_config_names(repo, revision=sha)
    if config is not None and config not in configs:
        raise SeedError(f"seed {repo} has no config {config!r}; it has {configs}: pass one to --seed-config")
    if config is None:
        config = datasets.get_dataset_default_config_name(repo, revision=sha)
        if config is None:
            raise SeedError(f"seed {repo} has several configs {configs} and no default: pass one to --seed-config")
    splits = datasets.get_dataset_split_names(repo, config, revision=sha)
    if split not in splits:
        raise SeedError(
            f"seed {repo} (config {config!r}) has no split {split!r} at {sha[:12]}; it has {splits}: "
            "pass one to --seed-split"
        )
    return datasets.load_dataset(repo, config, revision=sha, split=split), config


def read_hub(repo: str, revision: str, config: str | None, split: str) -> tuple[datasets.Dataset, dict[str, Any]]:
    """The split's rows at the commit `revision` resolves to, and the seed's public provenance."""
    api = HfApi()
    try:
        info = api.dataset_info(repo, revision=revision, files_metadata=False)
    except RevisionNotFoundError:
        raise _missing_revision(api, repo, revision) from None
    except GatedRepoError:
        raise _gated(repo) from None
    except RepositoryNotFoundError:
        raise _not_found(repo) from None
    except UNREACHABLE as exc:
        raise _unreachable(repo, exc) from None
    sha = str(info.sha)
    files = [sibling.rfilename for sibling in info.siblings or []]
    script = f"{repo.split('/')[-1]}.py"
    try:
        _check_access(api, repo, sha, files)
        if script in files:
            loaded, chosen = _read_script_repo(repo, sha, script, config, split), config
        else:
            loaded, chosen = _read_plain_repo(repo, sha, config, split)
    except UNREACHABLE as exc:
        raise _unreachable(repo, exc) from None
    provenance = {
        "kind": "hub",
        "name": repo,
        "revision": revision,
        "sha": sha,
        "config": chosen,
        "split": split,
        "loading_script": script if script in files else None,
        "gated": bool(info.gated),
        "private": bool(info.private),
        "license": _license(info),
    }
    return loaded, provenance
