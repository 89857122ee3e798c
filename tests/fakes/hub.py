"""A small Hugging Face Hub emulator: a real HTTP server on 127.0.0.1 for dataset repos.

It implements what the real `huggingface_hub` and `datasets` clients use to create a repo, upload
(preupload, LFS basic transfer with Xet disabled, NDJSON commit with the parent-commit check), list
trees and refs, create tags, validate card YAML, and download files at a revision (resolve with
`X-Repo-Commit`). State lives in memory; faults can be injected for the next commit or tag.

Point `HF_ENDPOINT` at `.url` (and set `HF_HUB_DISABLE_XET=1`) before importing the clients.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, unquote

import yaml

from .http import Request, Response, ThreadedServer

LFS_SUFFIXES = (".parquet", ".arrow", ".bin", ".safetensors")
# What a gated repo shows to anyone: its card (and .gitattributes); every other file needs access.
OPEN_FILES = {"README.md", ".gitattributes"}


@dataclass(frozen=True)
class StoredFile:
    content: bytes
    lfs: bool

    @property
    def git_oid(self) -> str:
        if self.lfs:  # the git blob of an LFS file is its pointer
            return hashlib.sha1(b"blob %d\0" % len(self.pointer) + self.pointer).hexdigest()
        return hashlib.sha1(b"blob %d\0" % len(self.content) + self.content).hexdigest()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def pointer(self) -> bytes:
        return (
            f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.content)}\n"
        ).encode()


@dataclass
class Commit:
    oid: str
    parent: str | None
    files: dict[str, StoredFile]
    summary: str
    date: str


@dataclass
class Repo:
    repo_id: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    gated: str | bool = False  # "auto" or "manual" when gated, as the Hub reports it
    accepted: set[str] | None = None  # users who accepted a gated repo's terms (None: every user)
    readers: set[str] | None = None  # users who can see a private repo (None: every user)

    def resolve(self, revision: str) -> Commit | None:
        revision = unquote(revision)
        oid = self.branches.get(revision) or self.tags.get(revision) or (revision if revision in self.commits else None)
        return self.commits.get(oid) if oid else None


@dataclass
class HubFaults:
    fail_next_commit: bool = False
    fail_next_tag: bool = False


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(status: int, message: str, code: str | None = None) -> Response:
    headers = {"X-Error-Message": message}
    if code:
        headers["X-Error-Code"] = code
    return Response.of_json({"error": message}, status, headers)


REPO = r"(?P<repo>[^/]+/[^/]+?)"


class FakeHub:
    """Start with `.start()`; `.url` is the `HF_ENDPOINT`. `tokens` maps valid tokens to user names."""

    def __init__(self, tokens: dict[str, str] | None = None, port: int = 0) -> None:
        self.tokens = tokens or {}
        self.repos: dict[str, Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.faults = HubFaults()
        self.requests: list[tuple[str, str]] = []
        self._server = ThreadedServer(self._handle, port)
        self._routes = [
            ("GET", re.compile(r"^/api/whoami-v2$"), self._whoami),
            ("POST", re.compile(r"^/api/repos/create$"), self._create_repo),
            ("POST", re.compile(r"^/api/validate-yaml$"), self._validate_yaml),
            ("POST", re.compile(rf"^/api/datasets/{REPO}/preupload/(?P<rev>[^/]+)$"), self._preupload),
            ("POST", re.compile(rf"^/api/datasets/{REPO}/commit/(?P<rev>[^/]+)$"), self._commit),
            ("POST", re.compile(rf"^/api/datasets/{REPO}/tag/(?P<rev>[^/]+)$"), self._create_tag),
            ("GET", re.compile(rf"^/api/datasets/{REPO}/refs$"), self._refs),
            ("GET", re.compile(rf"^/api/datasets/{REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$"), self._tree),
            ("POST", re.compile(rf"^/api/datasets/{REPO}/paths-info/(?P<rev>[^/]+)$"), self._paths_info),
            ("GET", re.compile(rf"^/api/datasets/{REPO}(?:/revision/(?P<rev>[^/]+))?$"), self._repo_info),
            ("POST", re.compile(rf"^/datasets/{REPO}\.git/info/lfs/objects/batch$"), self._lfs_batch),
            ("PUT", re.compile(r"^/_lfs/(?P<oid>[0-9a-f]{64})$"), self._lfs_put),
            ("HEAD", re.compile(rf"^/datasets/{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$"), self._resolve),
            ("GET", re.compile(rf"^/datasets/{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$"), self._resolve),
        ]

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> FakeHub:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    # --- inspection helpers for tests (run on the server's loop, so they see a consistent state) ---

    def snapshot(self, repo_id: str) -> dict[str, Any]:
        async def take() -> dict[str, Any]:
            repo = self.repos[repo_id]
            return {"branches": dict(repo.branches), "tags": dict(repo.tags), "commits": sorted(repo.commits)}

        return self._server.call(take())

    def files_at(self, repo_id: str, revision: str) -> dict[str, bytes]:
        async def read() -> dict[str, bytes]:
            commit = self.repos[repo_id].resolve(revision)
            assert commit is not None
            return {path: f.content for path, f in commit.files.items()}

        return self._server.call(read())

    # --- seeding repos for tests (as if someone had pushed them) ---

    def add_repo(
        self,
        repo_id: str,
        files: dict[str, bytes],
        gated: str | bool = False,
        private: bool = False,
        accepted: set[str] | None = None,
        readers: set[str] | None = None,
    ) -> str:
        """A dataset repo with one commit holding `files`; returns that commit's sha."""

        async def add() -> str:
            repo = Repo(repo_id, private, gated=gated, accepted=accepted, readers=readers)
            self.repos[repo_id] = repo
            return self._add_commit(repo, files, "initial commit")

        return self._server.call(add())

    def add_commit(self, repo_id: str, files: dict[str, bytes], summary: str) -> str:
        """A new commit on `main` with `files` added or replaced; returns its sha."""

        async def add() -> str:
            repo = self.repos[repo_id]
            return self._add_commit(
                repo, {**{p: f.content for p, f in repo.commits[repo.branches["main"]].files.items()}, **files}, summary
            )

        return self._server.call(add())

    def add_tag(self, repo_id: str, tag: str, sha: str) -> None:
        async def add() -> None:
            self.repos[repo_id].tags[tag] = sha

        self._server.call(add())

    def _add_commit(self, repo: Repo, files: dict[str, bytes], summary: str) -> str:
        stored = {path: StoredFile(content, lfs=path.endswith(LFS_SUFFIXES)) for path, content in files.items()}
        commit = Commit(self._new_oid(repo.repo_id, summary), repo.branches.get("main"), stored, summary, _now())
        repo.commits[commit.oid] = commit
        repo.branches["main"] = commit.oid
        return commit.oid

    # --- the HTTP side ---

    def _user(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        return self.tokens.get(auth.removeprefix("Bearer ").strip()) if auth.startswith("Bearer ") else None

    async def _handle(self, request: Request) -> Response:
        self.requests.append((request.method, request.path))
        for method, pattern, handler in self._routes:
            if method == request.method:
                match = pattern.match(request.path)
                if match:
                    return await handler(request, **match.groupdict())
        return _error(404, f"no route {request.method} {request.path}", "EntryNotFound")

    def _readable(self, request: Request, repo_id: str) -> Repo | Response:
        repo = self.repos.get(unquote(repo_id))
        user = self._user(request)
        if repo is None or (repo.private and (user is None or (repo.readers is not None and user not in repo.readers))):
            return _error(404, f"Repository {repo_id} not found", "RepoNotFound")
        return repo

    def _writable(self, request: Request, repo_id: str) -> Repo | Response:
        user = self._user(request)
        if user is None:
            return _error(401, "Invalid credentials in Authorization header")
        repo = self.repos.get(unquote(repo_id))
        if repo is None:
            return _error(404, f"Repository {repo_id} not found", "RepoNotFound")
        return repo

    def _commit_at(self, request: Request, repo_id: str, revision: str) -> Commit | Response:
        found = self._readable(request, repo_id)
        if isinstance(found, Response):
            return found
        commit = found.resolve(revision)
        return commit if commit is not None else _error(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    async def _whoami(self, request: Request) -> Response:
        user = self._user(request)
        if user is None:
            return _error(401, "Invalid credentials in Authorization header")
        return Response.of_json({"type": "user", "name": user, "orgs": [], "auth": {"type": "access_token"}})

    async def _create_repo(self, request: Request) -> Response:
        user = self._user(request)
        if user is None:
            return _error(401, "Invalid credentials in Authorization header")
        body = request.json()
        repo_id = f"{body.get('organization') or user}/{body['name']}"
        if body.get("type") != "dataset":
            return _error(400, "this emulator serves dataset repos only")
        if repo_id in self.repos:
            return _error(409, "You already created this dataset repo")
        repo = Repo(repo_id, bool(body.get("private")))
        initial = Commit(self._new_oid(repo_id, "initial"), None, {}, "initial commit", _now())
        repo.commits[initial.oid] = initial
        repo.branches["main"] = initial.oid
        self.repos[repo_id] = repo
        return Response.of_json({"url": f"{self.url}/datasets/{repo_id}", "name": repo_id})

    async def _validate_yaml(self, request: Request) -> Response:
        body = request.json()
        if body.get("repoType") != "dataset" or "content" not in body:
            return _error(400, "expected {content, repoType: dataset}")
        return Response.of_json({"errors": [], "warnings": []})

    async def _repo_info(self, request: Request, repo: str, rev: str | None = None) -> Response:
        found = self._readable(request, repo)
        if isinstance(found, Response):
            return found
        commit = found.resolve(rev or "main")
        if commit is None:
            return _error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return Response.of_json(
            {
                "_id": found.repo_id,
                "id": found.repo_id,
                "author": found.repo_id.split("/")[0],
                "sha": commit.oid,
                "private": found.private,
                "disabled": False,
                "gated": found.gated,
                "cardData": _card_data(commit),
                "lastModified": commit.date,
                "createdAt": commit.date,
                "tags": [],
                "downloads": 0,
                "likes": 0,
                "siblings": [{"rfilename": path} for path in sorted(commit.files)],
            }
        )

    async def _preupload(self, request: Request, repo: str, rev: str) -> Response:
        found = self._writable(request, repo)
        if isinstance(found, Response):
            return found
        files = request.json()["files"]
        return Response.of_json(
            {
                "files": [
                    {
                        "path": f["path"],
                        "uploadMode": "lfs"
                        if f["path"].endswith(LFS_SUFFIXES) or f["size"] > 10_000_000
                        else "regular",
                        "shouldIgnore": False,
                        "oid": None,
                    }
                    for f in files
                ]
            }
        )

    async def _lfs_batch(self, request: Request, repo: str) -> Response:
        found = self._writable(request, repo)
        if isinstance(found, Response):
            return found
        body = request.json()
        objects = []
        for obj in body["objects"]:
            entry: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.lfs:
                entry["actions"] = {"upload": {"href": f"{self.url}/_lfs/{obj['oid']}", "header": {}}}
            objects.append(entry)
        return Response(
            200,
            json.dumps({"transfer": "basic", "objects": objects}).encode(),
            {"Content-Type": "application/vnd.git-lfs+json"},
        )

    async def _lfs_put(self, request: Request, oid: str) -> Response:
        if hashlib.sha256(request.body).hexdigest() != oid:
            return _error(400, "content does not match its oid")
        self.lfs[oid] = request.body
        return Response(200)

    async def _commit(self, request: Request, repo: str, rev: str) -> Response:
        found = self._writable(request, repo)
        if isinstance(found, Response):
            return found
        branch = unquote(rev)
        head = found.branches.get(branch)
        if head is None:
            return _error(404, f"Invalid rev id: {branch}", "RevisionNotFound")
        lines = [json.loads(line) for line in request.body.decode().splitlines() if line.strip()]
        header = next(line["value"] for line in lines if line["key"] == "header")
        if header.get("parentCommit") and header["parentCommit"] != head:
            return _error(412, "A commit has happened since. Please refresh and try again.")
        if self.faults.fail_next_commit:
            self.faults.fail_next_commit = False
            return _error(500, "injected commit failure")
        files = dict(found.commits[head].files)
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "file":
                files[value["path"]] = StoredFile(base64.b64decode(value["content"]), lfs=False)
            elif key == "lfsFile":
                if value["oid"] not in self.lfs:
                    return _error(422, f"LFS object {value['oid']} was never uploaded")
                files[value["path"]] = StoredFile(self.lfs[value["oid"]], lfs=True)
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                files = {p: f for p, f in files.items() if not p.startswith(prefix)}
        commit = Commit(self._new_oid(found.repo_id, header["summary"]), head, files, header["summary"], _now())
        found.commits[commit.oid] = commit
        found.branches[branch] = commit.oid
        return Response.of_json(
            {
                "commitOid": commit.oid,
                "commitUrl": f"{self.url}/datasets/{found.repo_id}/commit/{commit.oid}",
                "pullRequestUrl": None,
            }
        )

    async def _create_tag(self, request: Request, repo: str, rev: str) -> Response:
        found = self._writable(request, repo)
        if isinstance(found, Response):
            return found
        tag = request.json()["tag"]
        commit = found.resolve(rev)
        if commit is None:
            return _error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        if tag in found.tags:
            return _error(409, f"Tag {tag} already exists")
        if self.faults.fail_next_tag:
            self.faults.fail_next_tag = False
            return _error(500, "injected tag failure")
        found.tags[tag] = commit.oid
        return Response.of_json({})

    async def _refs(self, request: Request, repo: str) -> Response:
        found = self._readable(request, repo)
        if isinstance(found, Response):
            return found

        def refs(kind: str, items: dict[str, str]) -> list[dict[str, str]]:
            return [
                {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": oid} for name, oid in sorted(items.items())
            ]

        return Response.of_json(
            {"branches": refs("heads", found.branches), "tags": refs("tags", found.tags), "converts": []}
        )

    def _entry(self, path: str, stored: StoredFile) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": "file", "path": path, "size": len(stored.content), "oid": stored.git_oid}
        if stored.lfs:
            entry["lfs"] = {"oid": stored.sha256, "size": len(stored.content), "pointerSize": len(stored.pointer)}
        return entry

    def _listing(self, commit: Commit, path: str, recursive: bool) -> list[dict[str, Any]] | None:
        prefix = path.strip("/") + "/" if path.strip("/") else ""
        if prefix and not any(p.startswith(prefix) for p in commit.files):
            return None
        entries: dict[str, dict[str, Any]] = {}
        for file_path, stored in sorted(commit.files.items()):
            if not file_path.startswith(prefix):
                continue
            rest = file_path[len(prefix) :]
            parts = rest.split("/")
            if recursive:
                for depth in range(1, len(parts)):
                    folder = prefix + "/".join(parts[:depth])
                    entries.setdefault(
                        folder, {"type": "directory", "path": folder, "oid": hashlib.sha1(folder.encode()).hexdigest()}
                    )
                entries[file_path] = self._entry(file_path, stored)
            elif len(parts) == 1:
                entries[file_path] = self._entry(file_path, stored)
            else:
                folder = prefix + parts[0]
                entries.setdefault(
                    folder, {"type": "directory", "path": folder, "oid": hashlib.sha1(folder.encode()).hexdigest()}
                )
        return list(entries.values())

    async def _tree(self, request: Request, repo: str, rev: str, path: str | None = None) -> Response:
        commit = self._commit_at(request, repo, rev)
        if isinstance(commit, Response):
            return commit
        query = parse_qs(request.query)
        recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
        listing = self._listing(commit, unquote(path or ""), recursive)
        if listing is None:
            return _error(404, f"{path} does not exist on {rev}", "EntryNotFound")
        return Response.of_json(listing)

    async def _paths_info(self, request: Request, repo: str, rev: str) -> Response:
        commit = self._commit_at(request, repo, rev)
        if isinstance(commit, Response):
            return commit
        form = parse_qs(request.body.decode())
        paths = form.get("paths", [])
        if not paths and request.headers.get("content-type", "").startswith("application/json"):
            paths = request.json().get("paths", [])
        out = []
        for path in paths:
            if path in commit.files:
                out.append(self._entry(path, commit.files[path]))
            elif any(p.startswith(path.rstrip("/") + "/") for p in commit.files):
                out.append({"type": "directory", "path": path, "oid": hashlib.sha1(path.encode()).hexdigest()})
        return Response.of_json(out)

    async def _resolve(self, request: Request, repo: str, rev: str, path: str) -> Response:
        commit = self._commit_at(request, repo, rev)
        if isinstance(commit, Response):
            return commit
        stored = commit.files.get(unquote(path))
        if stored is None:
            return _error(404, f"Entry not found: {path}", "EntryNotFound")
        refused = self._gate(request, unquote(repo), unquote(path))
        if refused is not None:
            return refused
        etag = stored.sha256 if stored.lfs else stored.git_oid
        headers = {
            "X-Repo-Commit": commit.oid,
            "ETag": f'"{etag}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if stored.lfs:
            headers["X-Linked-Etag"] = f'"{etag}"'
            headers["X-Linked-Size"] = str(len(stored.content))
        content = stored.content
        byte_range = request.headers.get("range")
        if byte_range and byte_range.startswith("bytes="):
            start_text, _, end_text = byte_range[6:].partition("-")
            start = int(start_text or 0)
            end = int(end_text) if end_text else len(content) - 1
            headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
            return Response(206, content[start : end + 1], headers)
        return Response(200, content, headers)

    def _gate(self, request: Request, repo_id: str, path: str) -> Response | None:
        """A gated repo's files: 401 without a token, 403 for an account that did not accept the terms."""
        repo = self.repos[repo_id]
        if not repo.gated or path in OPEN_FILES:
            return None
        user = self._user(request)
        message = (
            f"Access to dataset {repo_id} is restricted. You must have access to it and be authenticated "
            "to access it. Please log in."
        )
        if user is None:
            return _error(401, message, "GatedRepo")
        if repo.accepted is not None and user not in repo.accepted:
            return _error(
                403,
                f"Access to dataset {repo_id} is restricted and you are not in the authorized list. "
                f"Visit {self.url}/datasets/{repo_id} to ask for access.",
                "GatedRepo",
            )
        return None

    def _new_oid(self, repo_id: str, summary: str) -> str:
        return hashlib.sha1(f"{repo_id}\0{summary}\0{time.time_ns()}".encode()).hexdigest()


def _card_data(commit: Commit) -> dict[str, Any] | None:
    """The YAML metadata of the repo's README.md, as the Hub reports it in `cardData`."""
    card = commit.files.get("README.md")
    if card is None:
        return None
    text = card.content.decode("utf-8", errors="replace")
    match = re.match(r"^---\s*\n(.*?)\n---\s*\n", text, re.DOTALL)
    if not match:
        return None
    data = yaml.safe_load(match.group(1))
    return data if isinstance(data, dict) else None
