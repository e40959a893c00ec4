"""Problem ``code`` → error class, so the SDK raises exactly what the library would have raised
(and the CLI behaves the same locally and remotely)."""

from __future__ import annotations

from typing import Any

from artifact_store.errors import ArtifactStoreError, UnavailableError, all_error_classes

__all__ = ["CLASSES_BY_CODE", "error_from_problem"]

CLASSES_BY_CODE: dict[str, type[ArtifactStoreError]] = {
    cls.code: cls for cls in all_error_classes()
}
#: Problem members that are not the error's structured ``extra`` fields.
_STANDARD = frozenset({"type", "title", "status", "detail", "code", "instance"})


def error_from_problem(status: int, body: object) -> ArtifactStoreError:
    """The library error a problem+json body (or any error response) stands for."""
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        cls = CLASSES_BY_CODE.get(body["code"], ArtifactStoreError)
        detail = body.get("detail") or body.get("title") or f"HTTP {status}"
        extra: dict[str, Any] = {k: v for k, v in body.items() if k not in _STANDARD}
        extra["status"] = status
        return cls(str(detail), **extra)
    if status == 503:
        return UnavailableError(f"server unavailable (HTTP {status})", status=status)
    return ArtifactStoreError(f"unexpected HTTP {status} from the server", status=status)
