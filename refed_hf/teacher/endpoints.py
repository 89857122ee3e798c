"""Building the `openai` client for the chosen endpoint, and checking it before anything is paid."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit, urlunsplit

import openai

from ..errors import CredentialError, EndpointError
from ..settings import azure_credentials, openai_credentials
from .connection import ClientFactory


def client_factory(azure: bool, base_url: str | None, timeout: float, api_key: str | None = None) -> ClientFactory:
    """A factory of async clients (one per event loop) for OpenAI, Azure OpenAI or a compatible server.

    Retries are the teacher's job (with tenacity), so the SDK's own are off.
    """
    if azure:
        azure_creds = azure_credentials()
        check_url(azure_creds.endpoint, "AZURE_OPENAI_ENDPOINT")
        return lambda: openai.AsyncAzureOpenAI(
            api_key=azure_creds.api_key,
            azure_endpoint=azure_creds.endpoint,
            api_version=azure_creds.api_version,
            max_retries=0,
            timeout=timeout,
        )
    if api_key is not None and base_url is not None:  # a local server of our own: no credential needed
        return lambda: openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout)
    creds = openai_credentials(base_url)
    check_url(creds.base_url, "--base-url (or OPENAI_BASE_URL)")
    return lambda: openai.AsyncOpenAI(api_key=creds.api_key, base_url=creds.base_url, max_retries=0, timeout=timeout)


def check_url(url: str, where: str) -> None:
    """EndpointError, before any client is built, for an endpoint that is not an http(s) URL with a host
    and a numeric port; the message shows it without its credentials."""
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        valid = False
    if not valid:
        raise EndpointError(
            f"the teacher endpoint {without_userinfo(url)} is not an http(s) URL with a host and a valid port: "
            f"check {where}"
        )


def endpoint_name(azure: bool, base_url: str | None) -> str:
    """The endpoint as messages name it: never with the `user:password@` a URL may carry."""
    if azure:
        return without_userinfo(azure_credentials().endpoint)
    return without_userinfo(openai_credentials(base_url).base_url)


def without_userinfo(url: str) -> str:
    """`url` with any credentials before the host, and its query (which may hold a key), left out."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an endpoint URL that cannot be parsed)"
    if not parts.scheme or not host:
        return url.rsplit("@", 1)[-1]
    host = f"[{host}]" if ":" in host else host
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


def preflight(factory: ClientFactory, where: str) -> None:
    """Fail fast, before any paid call, when the endpoint is unreachable or rejects the key.

    Listing models costs nothing; an endpoint that does not offer the listing (404) is let through.
    """

    async def probe() -> None:
        client = factory()
        try:
            await client.with_options(timeout=15.0).models.list()
        finally:
            await client.close()

    try:
        asyncio.run(probe())
    except openai.AuthenticationError:
        raise CredentialError(
            f"the teacher endpoint {where} rejected the API key: check OPENAI_API_KEY (or the Azure key)"
        ) from None
    except openai.NotFoundError:
        return
    except openai.APIConnectionError as exc:
        raise EndpointError(
            f"cannot reach the teacher endpoint {where} ({exc.__class__.__name__}): check --base-url and that the server is up"
        ) from None
    except openai.APIStatusError as exc:
        if exc.status_code >= 500 or exc.status_code == 429:
            return  # reachable; the run's retries deal with a busy or flaky server
        raise EndpointError(
            f"the teacher endpoint {where} answered HTTP {exc.status_code} to a model listing: check --base-url"
        ) from None
