"""The output folder is the build's, and only the build's: which folders a build may replace, and
which leftovers of a killed build it removes (only this tool's own temporary names, matched whole)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from .errors import ManifestError, RecipeError
from .release.manifest import read


def is_release(folder: Path) -> bool:
    """A real folder (not a link) holding a manifest this tool wrote."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    try:
        read(folder)
    except ManifestError:
        return False
    return True


def check_release_folder(final: Path) -> None:
    """The version folder a build writes is absent or a release this tool made: anything else (a user's
    folder that happens to be named vX.Y.Z, a link) is never replaced."""
    if (final.exists() or final.is_symlink()) and not is_release(final):
        raise RecipeError(
            f"{final} exists and is not a release this tool wrote (no REFED manifest.json in it): "
            "move it away, or pass another --output or --version"
        )


def clear_leftovers(output: Path) -> None:
    """Remove what a killed build left in `output` (work folders, half-written releases), and put back
    a release that was moved aside for its replacement when the replacement never took its place.

    Only this tool's own temporary names are touched (`.work-vX.Y.Z`, `.work-estimate-vX.Y.Z`,
    `.vX.Y.Z.partial`, `.vX.Y.Z.old` with an exact version), never a pattern that could match a folder
    of the user's; a `.vX.Y.Z.old` is put back or removed only when it holds a release of this tool's."""
    for entry in output.iterdir():
        kind = leftover_kind(entry.name)
        if kind is None or entry.is_symlink() or not entry.is_dir():
            continue
        if kind == "old":
            release = output / entry.name[1:].removesuffix(".old")
            if not is_release(entry):
                continue
            if release.exists() or release.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.rename(release)
        else:
            shutil.rmtree(entry, ignore_errors=True)


_VERSION = r"(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)"
_LEFTOVERS = {
    "work": re.compile(rf"\.work-(?:estimate-)?v{_VERSION}", re.ASCII),
    "partial": re.compile(rf"\.v{_VERSION}\.partial", re.ASCII),
    "old": re.compile(rf"\.v{_VERSION}\.old", re.ASCII),
}


def leftover_kind(name: str) -> str | None:
    """Which of this tool's temporary names `name` is, if any (a whole-name match)."""
    return next((kind for kind, pattern in _LEFTOVERS.items() if pattern.fullmatch(name)), None)
