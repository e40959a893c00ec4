"""Header names and media types of the /v1 API (``docs/api/v1.md``)."""

from __future__ import annotations

import base64
from typing import Final

__all__ = [
    "ARTIFACT_DIGEST",
    "CBOR",
    "CHECKSUM_MISMATCH_STATUS",
    "EVENT_STREAM",
    "JSON",
    "LAST_EVENT_ID",
    "OCTET_STREAM",
    "OFFSET_OCTET_STREAM",
    "PROBLEM_JSON",
    "REPR_DIGEST",
    "UPLOAD_CHECKSUM",
    "UPLOAD_EXPIRES",
    "UPLOAD_LENGTH",
    "UPLOAD_OFFSET",
    "parse_repr_digest",
    "repr_digest",
]

UPLOAD_OFFSET: Final = "Upload-Offset"
UPLOAD_LENGTH: Final = "Upload-Length"
UPLOAD_EXPIRES: Final = "Upload-Expires"
UPLOAD_CHECKSUM: Final = "Upload-Checksum"
REPR_DIGEST: Final = "Repr-Digest"
ARTIFACT_DIGEST: Final = "Artifact-Digest"
LAST_EVENT_ID: Final = "Last-Event-ID"

JSON: Final = "application/json"
CBOR: Final = "application/cbor"
PROBLEM_JSON: Final = "application/problem+json"
OCTET_STREAM: Final = "application/octet-stream"
OFFSET_OCTET_STREAM: Final = "application/offset+octet-stream"
#: Server-Sent Events (``GET /v1/events/stream``).
EVENT_STREAM: Final = "text/event-stream"

#: tus 1.0 "460 Checksum Mismatch" for a chunk whose Upload-Checksum does not match.
CHECKSUM_MISMATCH_STATUS: Final = 460


def repr_digest(sha256_hex: str) -> str:
    """The RFC 9530 ``Repr-Digest`` value for a sha256 given as hex."""
    return f"sha-256=:{base64.b64encode(bytes.fromhex(sha256_hex)).decode('ascii')}:"


def parse_repr_digest(value: str) -> str | None:
    """The sha256 hex in a ``Repr-Digest`` header, or None when it carries none."""
    for item in value.split(","):
        key, _, rest = item.strip().partition("=")
        if key == "sha-256" and rest.startswith(":") and rest.endswith(":"):
            try:
                raw = base64.b64decode(rest[1:-1], validate=True)
            except ValueError:
                return None
            return raw.hex() if len(raw) == 32 else None
    return None
