"""Which failed calls are worth sending again, how long to wait first, and the short reason a call
that failed for good is counted under. Shared by the direct transport and the Batch API's."""

from __future__ import annotations

import email.utils
import random
import time

import openai
from tenacity import RetryCallState

from .failures import fatal_error, is_content_filter

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}


def retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError):
        # `insufficient_quota` is a 429 that waiting never clears: it stops the build instead.
        return exc.status_code in RETRYABLE_STATUS and not is_content_filter(exc) and fatal_error(exc, "") is None
    return isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError))


def failure_reason(exc: BaseException) -> str:
    if isinstance(exc, openai.APIStatusError):
        if is_content_filter(exc):
            return "content_filter"
        return {
            400: "bad_request",
            401: "auth",
            403: "forbidden",
            404: "not_found",
            422: "bad_request",
            429: "rate_limited",
        }.get(exc.status_code, "server_error" if exc.status_code >= 500 else f"http_{exc.status_code}")
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection"
    return type(exc).__name__


def server_delay(exc: BaseException | None) -> float | None:
    """The wait the server asked for, from `retry-after-ms` or `Retry-After` (seconds or a date)."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    headers = response.headers
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    after = headers.get("retry-after")
    if not after:
        return None
    try:
        return float(after)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(after)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class Backoff:
    """Exponential backoff with full jitter, unless the server said how long to wait."""

    def __init__(self, initial: float = 0.5, cap: float = 30.0) -> None:
        self.initial = initial
        self.cap = cap

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = server_delay(exc)
        if asked is not None:
            return min(asked, 120.0) + random.uniform(0, 0.1)
        return random.uniform(0, min(self.cap, self.initial * 2 ** (state.attempt_number - 1)))
