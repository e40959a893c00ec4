"""Request plumbing shared by ``Client`` and ``AsyncClient``: retry rules, backoff, error mapping.

Everything here is sans-IO: the two clients run their own send loops (one blocking, one async)
and ask these functions what to do with each outcome.

Theory of operation
-------------------
A request is retried when doing it again cannot do harm and may succeed:

- the request never reached the server (connection refused, connect or pool timeout): always;
- the server said "not now" (503 with ``Retry-After``, or 429): always, since it did not act;
- the request may have been processed (read timeout, connection reset, a 502/504 from a
  proxy): only when it is idempotent (RFC 9110 §9.2.2: GET, HEAD, PUT, DELETE, OPTIONS, plus
  POSTs the caller marks idempotent, such as "which blobs are missing" or a manifest commit,
  which the server answers 200 when the identical manifest is already there).

Waits grow exponentially with "equal jitter" (half fixed, half random), so many clients that
failed together do not come back together; a ``Retry-After`` from the server is a floor. When
the attempts run out, a transport failure becomes :class:`~artifact_store.errors.UnavailableError`
and an HTTP error becomes the library class its problem ``code`` names
(:func:`~artifact_store.wire.problems.error_from_problem`), so callers catch the same classes
locally and remotely.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from importlib import metadata
from typing import Final

import httpx

from artifact_store.errors import (
    ArtifactStoreError,
    NotFoundError,
    UnavailableError,
    UploadExpiredError,
)
from artifact_store.wire.problems import error_from_problem

__all__ = [
    "DEFAULT_TIMEOUT",
    "IDEMPOTENT_METHODS",
    "USER_AGENT",
    "RetryPolicy",
    "error_for",
    "parse_retry_after",
    "retryable_exception",
    "retryable_status",
    "unavailable",
]


def _package_version() -> str:
    try:
        return metadata.version("artifact-store")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


#: Sent with every request; the version is the installed package's.
USER_AGENT: Final = f"artifact-store-client/{_package_version()}"
#: Connect quickly, but let a slow disk on the server finish a large chunk.
DEFAULT_TIMEOUT: Final = httpx.Timeout(60.0, connect=10.0)
IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

#: The server did not act on the request: safe to send again whatever the method.
_NOT_PROCESSED: Final = frozenset({429, 503})
#: A gateway failed; the origin may or may not have acted.
_GATEWAY: Final = frozenset({502, 504})
#: Failures before the request left the client.
_NOT_SENT: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: Failures after (part of) the request may have been sent.
_MAYBE_SENT: Final = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
#: Statuses whose bodyless answers (HEAD) still name an error class.
_BODYLESS: Final[Mapping[int, type[ArtifactStoreError]]] = {
    404: NotFoundError,
    410: UploadExpiredError,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently to retry (``attempts`` counts the first try)."""

    attempts: int = 6
    base: float = 0.25
    cap: float = 10.0
    #: The longest ``Retry-After`` honoured; a server asking for more gets this much.
    max_retry_after: float = 60.0

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0 for the first retry)."""
        ceiling = min(self.cap, self.base * (2.0**retry))
        wait = ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


def retryable_exception(exc: httpx.TransportError, *, idempotent: bool) -> bool:
    """Whether a transport failure may be retried."""
    if isinstance(exc, _NOT_SENT):
        return True
    return idempotent and isinstance(exc, _MAYBE_SENT)


def retryable_status(status: int, *, idempotent: bool) -> bool:
    """Whether an HTTP status may be retried."""
    return status in _NOT_PROCESSED or (idempotent and status in _GATEWAY)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (RFC 9110 §10.2.3: delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return float(max(0.0, (at - (now or datetime.now(UTC))).total_seconds()))


def error_for(
    response: httpx.Response,
    *,
    statuses: Mapping[int, type[ArtifactStoreError]] | None = None,
) -> ArtifactStoreError:
    """The library error a (read) error response stands for.

    A problem+json body names its class by ``code``; a bodyless answer (HEAD) falls back on
    ``statuses``, then on a small default table (404, 410).
    """
    body: object = None
    if response.content:
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        return error_from_problem(response.status_code, body)
    cls = (statuses or {}).get(response.status_code) or _BODYLESS.get(response.status_code)
    if cls is not None:
        return cls(
            f"{response.request.method} {response.request.url.path}: HTTP {response.status_code}",
            status=response.status_code,
        )
    return error_from_problem(response.status_code, body)


def unavailable(exc: httpx.TransportError, where: str) -> UnavailableError:
    """A transport failure, after the retries ran out, as the library's ``UnavailableError``."""
    reason = str(exc) or type(exc).__name__
    return UnavailableError(
        f"cannot reach the server ({where}): {reason}", reason=type(exc).__name__, request=where
    )
