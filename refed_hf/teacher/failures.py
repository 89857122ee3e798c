"""Which teacher errors cost one item, and which stop the build.

Most failures belong to one request: a content filter, an answer that does not validate, a 500 that
outlived its retries. Others will hit every further call the same way: a key that was revoked
(401), access refused (403 that is not a content filter), a model or deployment that does not exist
(404), an account out of quota (429 `insufficient_quota`, which is not a rate limit and never clears
by waiting), and an answer the cache could not store. Going on after one of those pays for nothing
(or, for the cache, pays for answers that are then lost), so the first one stops the build: no call
starts after it, answers already stored stay stored, and no release is written.
"""

from __future__ import annotations

import openai

from ..errors import RefedError, TeacherFatalError

RERUN = "rerun the same command"


def _code(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    code = exc.code or (inner.get("code") if isinstance(inner, dict) else None)
    return str(code) if code else ""


def is_content_filter(exc: openai.APIStatusError) -> bool:
    return _code(exc) == "content_filter"


def fatal_error(exc: BaseException, model: str) -> TeacherFatalError | None:
    """The build-stopping error `exc` stands for, or None when it costs its own item only."""
    if not isinstance(exc, openai.APIStatusError) or is_content_filter(exc):
        return None
    code = _code(exc)
    status = f"HTTP {exc.status_code}{' ' + code if code else ''}"
    if exc.status_code == 401:
        return TeacherFatalError(
            f"the teacher endpoint rejected the API key ({status}): check OPENAI_API_KEY (or the Azure key) and {RERUN}"
        )
    if exc.status_code == 403:
        return TeacherFatalError(
            f"the teacher endpoint refused access ({status}): check the key's project, organisation and region "
            f"allow this model, then {RERUN}"
        )
    if exc.status_code == 404:
        return TeacherFatalError(
            f"the teacher model '{model}' was not found ({status}): check --teacher-model (the deployment "
            f"name on Azure) and {RERUN}"
        )
    if exc.status_code == 429 and "insufficient_quota" in (code, str(getattr(exc, "type", "") or "")):
        return TeacherFatalError(
            f"the teacher account is out of quota ({status}): add credit or raise its spending limit, then {RERUN}"
        )
    return None


class FatalStop:
    """The first build-stopping error of a run; once set, every call that has not started yet stops."""

    def __init__(self) -> None:
        self.error: RefedError | None = None

    def check(self) -> None:
        """Raise the stored error, if any: called right before a request would be sent."""
        if self.error is not None:
            raise self.error

    def raise_if_fatal(self, exc: BaseException, model: str) -> None:
        """Stop the build if `exc` will hit every further call (a `RefedError` always does)."""
        fatal = exc if isinstance(exc, RefedError) else fatal_error(exc, model)
        if fatal is None:
            return
        if self.error is None:
            self.error = fatal
        raise self.error from None
