"""Errors → RFC 9457 ``application/problem+json`` with a stable ``code``.

One table maps library error classes to HTTP statuses; the most specific class in the MRO wins
(CONVENTIONS §7). The body carries the standard members (``type``, ``title``, ``status``,
``detail``), the error's ``code`` and its structured ``extra`` fields as extension members, so
the SDK can raise exactly the class the library raised (``wire.problems``).

Besides library errors, three sources of errors are rendered here too: request validation
(400 ``invalid_input``), the router's own 404/405 and HTTP-level refusals raised in ``server/``
(415 wrong content type), so that no 4xx/5xx ever leaves the server as anything but a problem.
"""

import http
import logging
from collections.abc import Mapping

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from artifact_store.errors import (
    ArtifactStoreError,
    AuthError,
    BlobCorruptError,
    ChecksumMismatchError,
    ConflictError,
    DigestMismatchError,
    ForbiddenError,
    InvalidInputError,
    InvalidRangeError,
    ManifestInvalidError,
    MethodNotAllowedError,
    MissingBlobsError,
    NonCanonicalError,
    NotFoundError,
    PayloadTooLargeError,
    PolicyError,
    SizeMismatchError,
    UnavailableError,
    UploadExpiredError,
    UploadOffsetError,
    VerificationError,
)
from artifact_store.wire.headers import CHECKSUM_MISMATCH_STATUS, PROBLEM_JSON, UPLOAD_OFFSET

__all__ = [
    "HTTP_CODES",
    "STATUS",
    "ProblemResponse",
    "http_problem",
    "internal_problem",
    "problem",
    "problem_response",
    "status_of",
    "validation_problem",
]

logger = logging.getLogger(__name__)

STATUS: dict[type[ArtifactStoreError], int] = {
    ArtifactStoreError: 500,
    InvalidInputError: 400,
    InvalidRangeError: 416,
    ManifestInvalidError: 422,
    NonCanonicalError: 422,
    PayloadTooLargeError: 413,
    NotFoundError: 404,
    UploadExpiredError: 410,
    ConflictError: 409,
    MissingBlobsError: 422,
    PolicyError: 409,
    VerificationError: 422,
    # A claimed digest or size that the bytes do not match is the client's mistake (OCI: 400
    # DIGEST_INVALID); the same classes raised by `verify` never reach HTTP.
    MethodNotAllowedError: 405,
    DigestMismatchError: 400,
    SizeMismatchError: 400,
    ChecksumMismatchError: CHECKSUM_MISMATCH_STATUS,  # tus 1.0 "460 Checksum Mismatch"
    BlobCorruptError: 500,
    AuthError: 401,
    ForbiddenError: 403,
    UnavailableError: 503,
}

#: Problem codes for HTTP-level refusals that have no library error class.
HTTP_CODES: dict[int, str] = {
    400: "invalid_input",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "invalid_input",
}
#: Members a problem body always has; an error's ``extra`` never overrides them.
_STANDARD = frozenset({"type", "title", "status", "detail", "code", "instance"})


class ProblemResponse(JSONResponse):
    """A JSON response with the ``application/problem+json`` media type."""

    media_type = PROBLEM_JSON


def _jsonable(value: object) -> object:
    """``value`` as a JSON value; anything unknown becomes its text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Checksum Mismatch" if status == CHECKSUM_MISMATCH_STATUS else "Error"


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: object,
) -> ProblemResponse:
    """A problem+json response (503s carry ``Retry-After``)."""
    body: dict[str, object] = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body |= {k: _jsonable(v) for k, v in extra.items() if k not in _STANDARD}
    all_headers = dict(headers or {})
    if status == 503:
        all_headers.setdefault("Retry-After", "5")
    return ProblemResponse(body, status_code=status, headers=all_headers)


def status_of(exc: ArtifactStoreError) -> int:
    """The HTTP status of a library error (the most specific class in the table wins)."""
    return next(STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS)


async def problem_response(request: Request, exc: Exception) -> ProblemResponse:
    """The exception handler for every library error."""
    if not isinstance(exc, ArtifactStoreError):  # pragma: no cover - registered for it only
        raise exc
    status = status_of(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, UploadOffsetError) and isinstance(exc.extra.get("offset"), int):
        headers[UPLOAD_OFFSET] = str(exc.extra["offset"])  # tus: the current offset
    if isinstance(exc, InvalidRangeError) and isinstance(exc.extra.get("size"), int):
        headers["Content-Range"] = f"bytes */{exc.extra['size']}"  # RFC 9110 §15.5.17
    if status == 500:
        logger.error("request failed: %s", exc, extra={"code": exc.code})
    return problem(status, exc.code, exc.title, str(exc), headers=headers, **exc.extra)


async def validation_problem(request: Request, exc: Exception) -> ProblemResponse:
    """Request-shape errors (missing or mistyped parameters or body fields) as 400 problems."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = "; ".join(
        f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', 'invalid')}" for e in errors
    )
    fields = [".".join(map(str, e.get("loc", ()))) for e in errors]
    return problem(
        400, "invalid_input", "Invalid input", detail[:2000] or "invalid request", fields=fields
    )


async def http_problem(request: Request, exc: Exception) -> ProblemResponse:
    """HTTP-level refusals (no route, wrong method, wrong content type) as problems."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else ""
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    code = HTTP_CODES.get(status, "invalid_input" if status < 500 else "internal")
    if status == 404:
        detail = f"no resource at {request.url.path}"
    elif status == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    return problem(status, code, _phrase(status), str(detail or _phrase(status)), headers=headers)


def internal_problem() -> ProblemResponse:
    """The 500 answer for an unexpected exception (already logged by the caller)."""
    return problem(500, "internal", "Internal error", "the server failed; see its log")
