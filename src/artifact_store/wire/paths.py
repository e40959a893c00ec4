"""URL paths of the /v1 API, built from validated values (``docs/api/v1.md``).

The literal segment ``-`` separates a package path (``namespace/name``) from what follows; it
can never be a namespace segment, so every route is unambiguous.
"""

from __future__ import annotations

from urllib.parse import quote

__all__ = [
    "BLOBS",
    "BLOBS_BATCH",
    "BLOBS_MISSING",
    "EVENTS",
    "EVENTS_STREAM",
    "PACKAGES",
    "UPLOADS",
    "blob",
    "file",
    "ref",
    "tag",
    "tags",
    "upload",
    "version",
    "versions",
]

UPLOADS = "/v1/uploads"
BLOBS = "/v1/blobs"
BLOBS_MISSING = "/v1/blobs/missing"
BLOBS_BATCH = "/v1/blobs/batch"
PACKAGES = "/v1/packages"
EVENTS = "/v1/events"
EVENTS_STREAM = "/v1/events/stream"


def upload(upload_id: str) -> str:
    """One upload session."""
    return f"{UPLOADS}/{quote(upload_id, safe='')}"


def blob(digest: str) -> str:
    """One blob by ``sha256:`` or ``blake3:`` digest."""
    return f"{BLOBS}/{digest}"


def versions(namespace: str, name: str) -> str:
    """The versions of a package name."""
    return f"{PACKAGES}/{namespace}/{name}/-/versions"


def version(namespace: str, name: str, version: str) -> str:
    """One package version (its manifest)."""
    return f"{versions(namespace, name)}/{quote(version, safe='')}"


def file(namespace: str, name: str, version_: str, path: str) -> str:
    """One file of a package version."""
    return f"{version(namespace, name, version_)}/files/{quote(path, safe='/')}"


def tags(namespace: str, name: str) -> str:
    """The tags of a package name."""
    return f"{PACKAGES}/{namespace}/{name}/-/tags"


def tag(namespace: str, name: str, tag_: str) -> str:
    """One tag."""
    return f"{tags(namespace, name)}/{quote(tag_, safe='')}"


def ref(reference: str) -> str:
    """Resolve any reference."""
    return f"/v1/refs/{quote(reference, safe='/@:')}"
