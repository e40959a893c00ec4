"""Library errors → RFC 9457 ``application/problem+json`` with a stable ``code``.

One table maps error classes to HTTP statuses; the most specific class in the MRO wins.
"""

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from artifact_store.errors import (
    ArtifactStoreError,
    AuthError,
    BlobCorruptError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    InvalidRangeError,
    ManifestInvalidError,
    MissingBlobsError,
    NonCanonicalError,
    NotFoundError,
    PayloadTooLargeError,
    PolicyError,
    UnavailableError,
    VerificationError,
)

__all__ = ["STATUS", "problem", "problem_response", "validation_problem"]

STATUS: dict[type[ArtifactStoreError], int] = {
    ArtifactStoreError: 500,
    InvalidInputError: 400,
    InvalidRangeError: 416,
    ManifestInvalidError: 422,
    NonCanonicalError: 422,
    PayloadTooLargeError: 413,
    NotFoundError: 404,
    ConflictError: 409,
    MissingBlobsError: 422,
    PolicyError: 409,
    VerificationError: 422,
    BlobCorruptError: 500,
    AuthError: 401,
    ForbiddenError: 403,
    UnavailableError: 503,
}
PROBLEM_JSON = "application/problem+json"


def problem(status: int, code: str, title: str, detail: str, **extra: object) -> JSONResponse:
    """A problem+json response."""
    body = {"type": f"/problems/{code}", "title": title, "status": status, "detail": detail}
    body |= {"code": code, **extra}
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def problem_response(request: Request, exc: Exception) -> JSONResponse:
    """The exception handler for every library error."""
    if not isinstance(exc, ArtifactStoreError):
        raise exc
    status = next(STATUS[c] for c in type(exc).__mro__ if c in STATUS)
    extra = {k: v for k, v in exc.extra.items() if isinstance(v, str | int | list | bool)}
    return problem(status, exc.code, exc.title, str(exc), **extra)


async def validation_problem(request: Request, exc: Exception) -> JSONResponse:
    """Request-shape errors (missing or mistyped parameters) as 400 problems."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    return problem(400, "invalid_input", "Invalid input", detail or "invalid request")
