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


class PublishError(RefedError):
    """Publishing was refused or did not complete; the message says what state the repo is in."""
