"""The values the SDK returns, parsed strictly from the /v1 JSON (``docs/api/v1.md``).

Package, tag, page and commit values are the library's own (``kernels.records``), so code
handles them the same whether it talks to a local store or a server; the client depends on
``wire``, ``kernels``, ``manifest`` and ``errors`` only. A response that does not have the
documented shape raises ``ArtifactStoreError`` naming the route, never ``KeyError``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from artifact_store.errors import ArtifactStoreError
from artifact_store.kernels.clock import format_time, parse_time
from artifact_store.kernels.records import CommitResult, PackageInfo, Page, TagInfo

__all__ = [
    "BlobInfo",
    "BlobStat",
    "CommitResult",
    "Event",
    "PackageInfo",
    "Page",
    "TagInfo",
    "UploadStatus",
    "blob_from_json",
    "commit_from_json",
    "event_from_json",
    "package_from_json",
    "parse",
    "tag_from_json",
    "upload_from_json",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobInfo:
    """A stored blob: both digests and its size (the body of a finished upload)."""

    digest: str
    sha256: str
    blake3: str
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobStat:
    """What a ``HEAD`` of a blob says: its digest (from the ``ETag``) and size."""

    digest: str
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One event of the log as the server sends it (payload in its wire form, hashes in hex)."""

    seq: int
    id: str
    time: datetime
    type: str
    actor: str
    payload: dict[str, Any]
    hash: str
    prev_hash: str

    def to_json(self) -> dict[str, object]:
        """The event's wire JSON again (what ``GET /v1/events`` sent)."""
        return {
            "seq": self.seq,
            "id": self.id,
            "time": format_time(self.time),
            "type": self.type,
            "actor": self.actor,
            "payload": self.payload,
            "hash": self.hash,
            "prev_hash": self.prev_hash,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadStatus:
    """An upload session: where it is, how many bytes the server holds durably, until when."""

    location: str
    offset: int
    length: int | None = None
    expires_at: str | None = None


def parse[T](what: str, convert: Callable[[Any], T], value: object) -> T:
    """Apply ``convert`` to a decoded JSON value; any shape error names ``what``."""
    try:
        return convert(value)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ArtifactStoreError(
            f"unexpected response from the server for {what}: {exc!r}"[:300], response=what
        ) from exc


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {value!r}")
    return value


def _map(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {value!r}")
    return {_str(k): _str(v) for k, v in value.items()}


def package_from_json(obj: Any) -> PackageInfo:  # noqa: ANN401 - decoded JSON
    """A ``PackageInfo`` JSON object."""
    subject = obj.get("subject")
    return PackageInfo(
        digest=_str(obj["digest"]),
        namespace=_str(obj["namespace"]),
        name=_str(obj["name"]),
        version=_str(obj["version"]),
        kind=_str(obj["kind"]),
        created=_str(obj["created"]),
        producer=_str(obj["producer"]),
        labels=_map(obj.get("labels", {})),
        subject=None if subject is None else _str(subject),
        file_count=_int(obj["file_count"]),
        total_size=_int(obj["total_size"]),
        committed_at=parse_time(obj["committed_at"]),
        committed_seq=_int(obj["committed_seq"]),
        actor=_str(obj["actor"]),
        tags=tuple(_str(t) for t in obj.get("tags", ())),
    )


def commit_from_json(obj: Any, *, status: int) -> CommitResult:  # noqa: ANN401
    """The body of ``POST /v1/packages``; ``created`` falls back on the status (201 = new)."""
    created = obj.get("created")
    return CommitResult(
        package_from_json(obj["package"]),
        created if isinstance(created, bool) else status == 201,
    )


def blob_from_json(obj: Any) -> BlobInfo:  # noqa: ANN401
    """The body of a finished upload or a single-request blob PUT."""
    sha256 = _str(obj["sha256"])
    return BlobInfo(
        digest=_str(obj.get("digest", f"sha256:{sha256}")),
        sha256=sha256,
        blake3=_str(obj["blake3"]),
        size=_int(obj["size"]),
    )


def tag_from_json(obj: Any, *, namespace: str, name: str) -> TagInfo:  # noqa: ANN401
    """One item of ``GET …/-/tags``."""
    return TagInfo(
        namespace=namespace,
        name=name,
        tag=_str(obj["tag"]),
        target=_str(obj["target"]),
        set_at=parse_time(obj["set_at"]),
        set_seq=_int(obj["set_seq"]),
    )


def event_from_json(obj: Any) -> Event:  # noqa: ANN401
    """One ``Event`` JSON object."""
    payload = obj.get("payload", {})
    if not isinstance(payload, dict):
        raise TypeError(f"event payload is not an object: {payload!r}")
    return Event(
        seq=_int(obj["seq"]),
        id=_str(obj["id"]),
        time=parse_time(obj["time"]),
        type=_str(obj["type"]),
        actor=_str(obj["actor"]),
        payload=payload,
        hash=_str(obj["hash"]),
        prev_hash=_str(obj["prev_hash"]),
    )


def upload_from_json(obj: Any, *, location: str) -> UploadStatus:  # noqa: ANN401
    """The body of ``POST /v1/uploads`` or ``GET /v1/uploads/{id}``."""
    length = obj.get("length")
    expires = obj.get("expires_at")
    return UploadStatus(
        location=location,
        offset=_int(obj.get("offset", 0)),
        length=None if length is None else _int(length),
        expires_at=None if expires is None else _str(expires),
    )
