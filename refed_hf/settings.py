"""The one place that reads environment variables.

Secrets read here are handed to the clients that need them and to nothing else: they never go into
the recipe, the cache, the manifest or a log line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import CredentialError

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"


def _first_env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


@dataclass(frozen=True)
class OpenAICredentials:
    api_key: str
    base_url: str


@dataclass(frozen=True)
class AzureCredentials:
    api_key: str
    endpoint: str
    api_version: str


def default_base_url() -> str:
    return _first_env("OPENAI_BASE_URL") or DEFAULT_OPENAI_BASE_URL


def openai_credentials(base_url: str | None) -> OpenAICredentials:
    """The key for an OpenAI(-compatible) endpoint, from `OPENAI_API_KEY`."""
    key = _first_env("OPENAI_API_KEY")
    if not key:
        raise CredentialError("no API key: set OPENAI_API_KEY (any non-empty value for a local server that needs none)")
    return OpenAICredentials(api_key=key, base_url=base_url or default_base_url())


def azure_credentials() -> AzureCredentials:
    """Azure OpenAI endpoint, key and API version, under their usual names and the short aliases."""
    endpoint = _first_env("AZURE_OPENAI_ENDPOINT", "AZURE_ENDPOINT")
    key = _first_env("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_KEY")
    version = _first_env("OPENAI_API_VERSION", "AZURE_VERSION")
    missing = [
        name
        for name, value in (
            ("AZURE_OPENAI_ENDPOINT", endpoint),
            ("AZURE_OPENAI_API_KEY", key),
            ("OPENAI_API_VERSION", version),
        )
        if not value
    ]
    if missing:
        raise CredentialError(f"--azure needs {', '.join(missing)}: set them in the environment")
    assert endpoint and key and version
    return AzureCredentials(api_key=key, endpoint=endpoint, api_version=version)
