"""Every error a user can fix, in one place.

Each message is one line that names the problem and the fix; the CLI prints it and exits 2.
"""

from __future__ import annotations


class RefedError(Exception):
    """A problem the user can fix; its message is shown as is."""

    exit_code = 2


class RecipeError(RefedError):
    """A recipe field or a flag has a bad value."""


class SeedError(RefedError):
    """The seed set cannot be loaded or has no usable columns."""


class CredentialError(RefedError):
    """A key or token is missing or was rejected."""


class EndpointError(RefedError):
    """The teacher endpoint cannot be reached or does not answer as expected."""


class ManifestError(RefedError):
    """A manifest.json that cannot be read as a REFED manifest."""


class PublishError(RefedError):
    """Publishing was refused or did not complete; the message says what state the repo is in."""


class OutputLockedError(RefedError):
    """Another build holds the output directory's lock."""


class DiskSpaceError(RefedError):
    """The output disk cannot hold what the build will write; found before any paid call."""


class TeacherFatalError(RefedError):
    """The teacher answered with an error every further call would get too (key, quota, model, access).

    The build stops at once: no new call, answers received stay cached, no release is written.
    """


class DiskWriteError(RefedError):
    """The output disk refused a write (full, read-only, I/O error): the build stops before paying for more."""

    exit_code = 1


class CacheFileError(RefedError):
    """OUTPUT/cache.sqlite cannot be used as it is (damaged, not a cache, or a newer tool's): nothing was paid for."""


class NoRecordsError(RefedError):
    """Every item failed or was filtered out: nothing is written, an earlier release stays."""

    exit_code = 1


class ReviewError(RefedError):
    """The release to review, or where to write its page, is not usable."""
