"""Publishing a built release to a Hugging Face dataset repo: one release = one commit + one tag.

All files of `OUTPUT/vX.Y.Z/` go to `main` in a single commit guarded by the parent commit seen
when planning (files of the previous release that this one lacks are deleted in the same commit, so
`main` always equals the latest release), then tag `vX.Y.Z` is created on that exact commit.
Everything that can refuse the publication is checked before anything is uploaded.
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx  # the HTTP client huggingface_hub uses
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, get_token, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
from huggingface_hub.hf_api import RepoFile

from ..errors import CredentialError, ManifestError, PublishError
from .manifest import Manifest, read
from .writer import release_files

DATA_PREFIX = "data/"


def tag_of(version: str) -> str:
    return f"v{version}"


def _version_key(tag: str) -> tuple[int, int, int] | None:
    parts = tag.removeprefix("v").split(".")
    if not tag.startswith("v") or len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def local_files(release: Path) -> dict[str, Path]:
    """The files the release wrote, by their path in the repo: what its manifest lists, never whatever
    else is in the folder (a stray `.env`, a link to a key). Each must be a plain file inside it."""
    manifest = read(release)
    files = {}
    for path in release_files(manifest):
        local = release / path
        try:
            info = local.lstat()
        except OSError:
            raise PublishError(f"{local} is missing though the release lists it: rebuild the release") from None
        # A linked folder (`assets` -> elsewhere) would take the upload outside the release.
        inside = not any((release / folder).is_symlink() for folder in Path(path).parents if folder != Path("."))
        if not stat.S_ISREG(info.st_mode) or not inside:
            raise PublishError(f"{local} is not a plain file of the release (a link?): rebuild the release")
        files[path] = local
    return files


def data_fingerprint(files: dict[str, Path]) -> dict[str, str]:
    """The release's content: each data file's sha256 (the card and manifest describe it)."""
    return {path: _sha256(local) for path, local in files.items() if path.startswith(DATA_PREFIX)}


@dataclass
class PublishPlan:
    repo_id: str
    tag: str
    action: str  # "commit-and-tag", "tag-only" or "nothing"
    reason: str
    repo_exists: bool
    parent_commit: str | None = None
    uploads: list[str] = field(default_factory=list)
    deletions: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        lines = [
            f"repo:    {self.repo_id} ({'exists' if self.repo_exists else 'to be created'})",
            f"tag:     {self.tag}",
            f"action:  {self.action}: {self.reason}",
        ]
        if self.action == "commit-and-tag":
            lines.append(f"commit on main (parent {self.parent_commit or 'none'}):")
            lines += [f"  add     {path}" for path in self.uploads]
            lines += [f"  delete  {path}" for path in self.deletions]
        return "\n".join(lines)


class Publisher:
    """Plans and carries out the publication of one release directory."""

    def __init__(self, repo_id: str, private: bool = False, token: str | None = None, need_token: bool = True) -> None:
        self.repo_id = repo_id
        self.private = private
        token = token or get_token()
        if token is None and need_token:
            raise CredentialError("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
        self.api = HfApi(token=token) if token else HfApi()
        if token is not None:
            try:
                self.api.whoami()
            except HfHubHTTPError as exc:
                if exc.response is not None and exc.response.status_code in (401, 403):
                    raise CredentialError(
                        "the Hub rejected the token: set a valid HF_TOKEN (write access) or run `hf auth login`"
                    ) from None
                raise PublishError(f"cannot reach the Hub to check the token: {_short(exc)}") from None

    def _remote_data(self, revision: str) -> dict[str, str]:
        entries = self.api.list_repo_tree(self.repo_id, recursive=True, revision=revision, repo_type="dataset")
        return {
            e.path: (e.lfs.sha256 if e.lfs else "")
            for e in entries
            if isinstance(e, RepoFile) and e.path.startswith(DATA_PREFIX)
        }

    def _remote_manifest(self, revision: str) -> Manifest | None:
        """The manifest at `revision`, or None where there is none a REFED release wrote."""
        try:
            path = hf_hub_download(
                self.repo_id, "manifest.json", revision=revision, repo_type="dataset", token=self.api.token
            )
            return read(path)
        except (HfHubHTTPError, ManifestError):
            return None

    def plan(self, release: Path, version: str) -> PublishPlan:
        tag = tag_of(version)
        files = local_files(release)
        try:
            info = self.api.repo_info(self.repo_id, repo_type="dataset")
        except RepositoryNotFoundError:
            return PublishPlan(self.repo_id, tag, "commit-and-tag", "new repo", False, None, sorted(files), history=[])
        tags = {ref.name: ref.target_commit for ref in self.api.list_repo_refs(self.repo_id, repo_type="dataset").tags}
        fingerprint = data_fingerprint(files)
        if tag in tags:
            if self._remote_data(tags[tag]) == fingerprint:
                return PublishPlan(self.repo_id, tag, "nothing", f"{tag} is already published with this content", True)
            raise PublishError(
                f"{tag} is already published on {self.repo_id} with different content: publish it as a new --version"
            )
        newer = [t for t in tags if (_version_key(t) or (0, 0, 0)) > (_version_key(tag) or (0, 0, 0))]
        if newer:
            latest = max(newer, key=lambda t: _version_key(t) or (0, 0, 0))
            raise PublishError(
                f"{tag} is lower than {latest}, already published on {self.repo_id}: pass a --version above it"
            )
        history = self._history(tags)
        head = info.sha
        remote_manifest = self._remote_manifest(head) if head else None
        if head and remote_manifest and remote_manifest.version == version and self._remote_data(head) == fingerprint:
            return PublishPlan(
                self.repo_id,
                tag,
                "tag-only",
                f"main already holds {tag} (an earlier run stopped before tagging)",
                True,
                head,
                history=history,
            )
        remote_paths = set(self.api.list_repo_files(self.repo_id, revision=head, repo_type="dataset"))
        deletions = sorted(p for p in remote_paths - set(files) if p != ".gitattributes")
        return PublishPlan(
            self.repo_id, tag, "commit-and-tag", "new release", True, head, sorted(files), deletions, history
        )

    def _history(self, tags: dict[str, str]) -> list[dict[str, Any]]:
        """Earlier releases, from the manifest each tag holds."""
        history = []
        for tag in tags:
            if _version_key(tag) is None:
                continue
            manifest = self._remote_manifest(tags[tag])
            if manifest:
                history.append(
                    {
                        "version": tag,
                        "date": manifest.created_at[:10],
                        "records": manifest.records,
                        "teacher": manifest.recipe.teacher_model,
                    }
                )
        return history

    def execute(self, plan: PublishPlan, release: Path, message: str) -> str:
        """Carry out `plan`; returns the commit the tag points at."""
        if plan.action == "nothing":
            return ""
        commit_oid = plan.parent_commit or ""
        if plan.action == "commit-and-tag":
            if not plan.repo_exists:
                self.api.create_repo(self.repo_id, repo_type="dataset", private=self.private, exist_ok=True)
                plan.parent_commit = self.api.repo_info(self.repo_id, repo_type="dataset").sha
            files = local_files(release)
            operations: list[Any] = [
                CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(files[path])) for path in plan.uploads
            ]
            operations += [CommitOperationDelete(path_in_repo=path) for path in plan.deletions]
            try:
                commit = self.api.create_commit(
                    self.repo_id,
                    operations,
                    commit_message=message,
                    repo_type="dataset",
                    revision="main",
                    parent_commit=plan.parent_commit,
                )
            except HfHubHTTPError as exc:
                raise PublishError(
                    f"the commit to {self.repo_id} failed ({_short(exc)}); nothing was tagged: rerun the same command"
                ) from None
            commit_oid = commit.oid
        try:
            self.api.create_tag(
                self.repo_id, tag=plan.tag, revision=commit_oid, repo_type="dataset", tag_message=message
            )
        except HfHubHTTPError as exc:
            raise PublishError(
                f"committed {commit_oid[:12]} to {self.repo_id} but creating tag {plan.tag} failed ({_short(exc)}): "
                "rerun the same command to tag it (no new commit is made)"
            ) from None
        return commit_oid


def _short(exc: HfHubHTTPError) -> str:
    status = exc.response.status_code if exc.response is not None else "no response"
    return f"HTTP {status}: {str(exc).splitlines()[0][:200]}"


@contextmanager
def _reaching_hub(repo_id: str) -> Iterator[None]:
    """The Hub unreachable (network down, HF_ENDPOINT wrong) as one line; what was done is in the plan's
    order (commit, then tag), so the same command finishes it."""
    try:
        yield
    except (httpx.TransportError, ConnectionError) as exc:
        raise PublishError(
            f"cannot reach the Hub to publish {repo_id} ({type(exc).__name__}): check the network or "
            "HF_ENDPOINT, then rerun the same command"
        ) from None


def publish(
    release: Path,
    version: str,
    repo_id: str,
    private: bool,
    dry_run: bool,
    render_card: Callable[[list[dict[str, Any]]], str],
    say: Callable[[str], None] = print,
) -> PublishPlan:
    """Publish `release` as tag v`version` of `repo_id`, after rendering its card for the Hub.

    `render_card(history)` gives the README.md with the load lines pinned to the tag and the history
    of earlier releases; it replaces the local card too, so the local release equals the published one.
    """
    with _reaching_hub(repo_id):
        publisher = Publisher(repo_id, private, need_token=not dry_run)
        plan = publisher.plan(release, version)
        if plan.action == "commit-and-tag":
            (release / "README.md").write_text(render_card(plan.history), encoding="utf-8")
        if dry_run:
            say("dry run: nothing is changed on the Hub\n" + plan.describe())
            return plan
        if plan.action == "nothing":
            say(f"nothing to publish: {plan.reason}")
            return plan
        oid = publisher.execute(plan, release, message=f"REFED release {plan.tag}")
        say(
            f"published {repo_id} {plan.tag} (commit {oid[:12]}): load it with "
            f"load_dataset({repo_id!r}, revision={plan.tag!r})"
        )
        return plan
