"""The manifest v1 value types: ``Manifest``, ``FileEntry``, ``Producer``, ``Link``.

These are plain frozen values; they check nothing on construction (``validate.validate_manifest``
does, and the codec calls it on every way in and out). Each logical manifest has exactly one
value here and one encoding (``codec``): an optional field is either set or absent, never "set
to its empty form" (``executable`` is False, ``version``/``run``/``subject`` are None, ``links``
is empty when absent).

``labels`` and ``annotations`` are typed as read-only ``Mapping`` and hold a private ``dict``
copied at construction (as ``files`` and ``links`` become tuples), so the caller's containers
can change later without changing the manifest. They take part in ``==`` (insertion order does
not matter) but not in ``hash()`` (a dict cannot be hashed); equal manifests still hash equal,
which is all ``hash`` promises.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from artifact_store.errors import FileNotInPackageError
from artifact_store.kernels.clock import parse_time
from artifact_store.kernels.names import PackageName

__all__ = ["SCHEMA_VERSION", "FileEntry", "Link", "Manifest", "Producer"]

#: The one schema this code reads and writes.
SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class FileEntry:
    """One file of a package: its path and the blob that holds its bytes.

    ``sha256`` and ``blake3`` are bare lower-case hex (no ``sha256:`` prefix).
    """

    path: str
    size: int
    sha256: str
    blake3: str
    media_type: str
    executable: bool = False


@dataclass(frozen=True, slots=True)
class Producer:
    """What made the package: a tool ``name``, its ``version`` and the ``run`` (a CI job id)."""

    name: str
    version: str | None = None
    run: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """A typed edge to another package: ``rel`` (``derived-from``, …) and its ``sha256:`` digest."""

    rel: str
    target: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """One package version (schema 1): identity, metadata and files sorted by path."""

    schema: int = SCHEMA_VERSION
    namespace: str
    name: str
    version: str
    kind: str
    created: str
    producer: Producer
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)
    files: tuple[FileEntry, ...]
    subject: str | None = None
    links: tuple[Link, ...] = ()

    def __post_init__(self) -> None:
        # Private copies: the manifest must not change when the caller's containers do.
        object.__setattr__(self, "labels", dict(self.labels))
        object.__setattr__(self, "annotations", dict(self.annotations))
        object.__setattr__(self, "files", tuple(self.files))
        object.__setattr__(self, "links", tuple(self.links))

    @property
    def package_name(self) -> PackageName:
        """``namespace/name`` as a value."""
        return PackageName(self.namespace, self.name)

    @property
    def ref(self) -> str:
        """``namespace/name@version``."""
        return f"{self.namespace}/{self.name}@{self.version}"

    @property
    def created_at(self) -> datetime:
        """``created`` as an aware UTC datetime.

        Raises:
            InvalidInputError: ``created`` is not RFC 3339 UTC text (an unvalidated manifest).
        """
        return parse_time(self.created)

    @property
    def total_size(self) -> int:
        """The sum of the file sizes, in bytes."""
        return sum(entry.size for entry in self.files)

    def find_file(self, path: str) -> FileEntry | None:
        """The entry at ``path``, or None (binary search: files are sorted by path)."""
        index = bisect_left(self.files, path, key=_path_of)
        if index < len(self.files) and self.files[index].path == path:
            return self.files[index]
        return None

    def file(self, path: str) -> FileEntry:
        """The entry at ``path``.

        Raises:
            FileNotInPackageError: the package has no file at ``path``.
        """
        entry = self.find_file(path)
        if entry is None:
            raise FileNotInPackageError(f"{self.ref} has no file {path!r}", path=path)
        return entry


def _path_of(entry: FileEntry) -> str:
    return entry.path
