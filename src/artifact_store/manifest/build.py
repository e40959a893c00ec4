"""Build a manifest from a directory: walk it, hash each file once, validate the result.

``scan_directory`` lists the regular files under a root, sorted by manifest path (the walk is
iterative, so depth is bounded by the path rules, not by Python's recursion limit). What it
does with the other things a directory can hold:

- empty files are files (size 0);
- empty directories are not represented: a manifest lists files only, so a directory exists
  in a package exactly when some file lies beneath it;
- a symbolic link is rejected (``UnsupportedFileError`` naming it) unless
  ``follow_symlinks=True``; then it stands for its target, a dangling link is rejected, and a
  link back to a directory being walked (a cycle, found by ``(st_dev, st_ino)``) is rejected;
- sockets, FIFOs and device files are always rejected (``UnsupportedFileError``);
- a name that is not a valid manifest path (not UTF-8, not NFC, a backslash, a control
  character, …) is rejected with ``InvalidPathError`` naming the file.

Only the owner-executable bit of a file's mode is kept. Media types come from the fixed table
below, never from the machine's ``/etc/mime.types``, so every machine builds the same manifest
from the same tree.

``build_manifest`` then calls the caller's ``digest`` once per file: the caller chooses how the
bytes are read (in local mode it stores the blob while hashing it, so each file is read once,
ADR-0001) and the builder checks that the size it got equals the size the walk saw.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Final

from artifact_store.errors import (
    InvalidInputError,
    ManifestInvalidError,
    SizeMismatchError,
    UnsupportedFileError,
)
from artifact_store.kernels.clock import format_time
from artifact_store.kernels.digest import DigestPair
from artifact_store.kernels.limits import MAX_FILES, check_limit
from artifact_store.kernels.paths import validate_path
from artifact_store.manifest.model import FileEntry, Link, Manifest, Producer
from artifact_store.manifest.validate import validate_manifest

__all__ = [
    "DEFAULT_MEDIA_TYPE",
    "ScannedFile",
    "build_manifest",
    "guess_media_type",
    "scan_directory",
]

#: The media type of a file whose name the table below does not know.
DEFAULT_MEDIA_TYPE: Final = "application/octet-stream"

#: Lower-case name endings that carry more than their last extension (checked first).
_COMPOUND_SUFFIXES: Final[Mapping[str, str]] = {
    ".cdx.json": "application/vnd.cyclonedx+json",
    ".cdx.xml": "application/vnd.cyclonedx+xml",
    ".sarif.json": "application/sarif+json",
    ".spdx.json": "application/spdx+json",
}

#: Lower-case last extension → media type (IANA-registered types where one exists).
_SUFFIXES: Final[Mapping[str, str]] = {
    ".7z": "application/x-7z-compressed",
    ".bz2": "application/x-bzip2",
    ".css": "text/css",
    ".csv": "text/csv",
    ".diff": "text/x-diff",
    ".gif": "image/gif",
    ".gz": "application/gzip",
    ".htm": "text/html",
    ".html": "text/html",
    ".jpeg": "image/jpeg",
    ".jpg": "image/jpeg",
    ".js": "text/javascript",
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".log": "text/plain",
    ".md": "text/markdown",
    ".ndjson": "application/x-ndjson",
    ".patch": "text/x-diff",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".sarif": "application/sarif+json",
    ".svg": "image/svg+xml",
    ".tar": "application/x-tar",
    ".tgz": "application/gzip",
    ".toml": "application/toml",
    ".tsv": "text/tab-separated-values",
    ".txt": "text/plain",
    ".wasm": "application/wasm",
    ".webp": "image/webp",
    ".xml": "application/xml",
    ".xz": "application/x-xz",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".zip": "application/zip",
    ".zst": "application/zstd",
}


def guess_media_type(path: str) -> str:
    """The media type for a file name from the built-in table; ``DEFAULT_MEDIA_TYPE`` if unknown.

    Matching is case-insensitive and looks only at the last path segment; a leading dot does
    not start an extension (``.json`` alone is a hidden file with no extension). JUnit reports
    are plain ``.xml`` (``application/xml``): no media type is registered for them.
    """
    name = path.rpartition("/")[2].lower()
    for suffix, media_type in _COMPOUND_SUFFIXES.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return media_type
    dot = name.rfind(".")
    if dot <= 0:
        return DEFAULT_MEDIA_TYPE
    return _SUFFIXES.get(name[dot:], DEFAULT_MEDIA_TYPE)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScannedFile:
    """A regular file found by :func:`scan_directory`.

    ``path`` is its manifest path (relative POSIX, validated); ``source`` is where to read it.
    """

    path: str
    source: Path
    size: int
    executable: bool
    media_type: str


def _describe(mode: int) -> str:
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISBLK(mode) or stat.S_ISCHR(mode):
        return "a device file"
    return "not a regular file or directory"


def _entry_stat(entry: os.DirEntry[str], rel: str, *, follow_symlinks: bool) -> os.stat_result:
    """The stat of a directory entry, or of its target when links are followed."""
    if not entry.is_symlink():
        return entry.stat(follow_symlinks=False)
    if not follow_symlinks:
        raise UnsupportedFileError(
            f"{rel!r} is a symbolic link; links are not followed (follow_symlinks=False)",
            path=rel,
        )
    try:
        return entry.stat(follow_symlinks=True)
    except FileNotFoundError as exc:
        raise UnsupportedFileError(f"{rel!r} is a dangling symbolic link", path=rel) from exc


def scan_directory(root: Path, *, follow_symlinks: bool = False) -> list[ScannedFile]:
    """The regular files under ``root``, sorted by manifest path (blocking file-system reads).

    See the module docstring for what is rejected and what is left out.

    Raises:
        InvalidInputError: ``root`` is not a directory.
        InvalidPathError: a file name is not a valid manifest path.
        UnsupportedFileError: a symlink (unless followed), a dangling link, a directory cycle,
            a socket, a FIFO or a device file.
        LimitExceededError: more than ``MAX_FILES`` files.
        OSError: a directory below ``root`` cannot be listed (permissions, removed meanwhile).
    """
    try:
        root_stat = root.stat()
    except OSError as exc:
        raise InvalidInputError(f"cannot read directory {str(root)!r}: {exc.strerror}") from exc
    if not stat.S_ISDIR(root_stat.st_mode):
        raise InvalidInputError(f"not a directory: {str(root)!r}", path=str(root))
    files: list[ScannedFile] = []
    # Each pending directory carries the (st_dev, st_ino) of itself and its ancestors: meeting
    # one of them again means a followed link leads back up the tree (a cycle).
    pending: list[tuple[str, str, frozenset[tuple[int, int]]]] = [
        (str(root), "", frozenset({(root_stat.st_dev, root_stat.st_ino)}))
    ]
    while pending:
        directory, prefix, ancestors = pending.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                rel = prefix + entry.name
                st = _entry_stat(entry, rel, follow_symlinks=follow_symlinks)
                if stat.S_ISDIR(st.st_mode):
                    identity = (st.st_dev, st.st_ino)
                    if identity in ancestors:
                        raise UnsupportedFileError(
                            f"{rel!r} leads back to a directory above it (a symlink cycle)",
                            path=rel,
                        )
                    pending.append((entry.path, rel + "/", ancestors | {identity}))
                elif stat.S_ISREG(st.st_mode):
                    files.append(
                        ScannedFile(
                            path=validate_path(rel),
                            source=Path(entry.path),
                            size=st.st_size,
                            executable=bool(st.st_mode & stat.S_IXUSR),
                            media_type=guess_media_type(rel),
                        )
                    )
                    check_limit("file count", len(files), MAX_FILES)
                else:
                    raise UnsupportedFileError(
                        f"{rel!r} is {_describe(st.st_mode)}; only regular files and "
                        "directories can be packaged",
                        path=rel,
                    )
    files.sort(key=_manifest_path)
    return files


def _manifest_path(scanned: ScannedFile) -> str:
    return scanned.path


def _created_text(created: str | datetime) -> str:
    if isinstance(created, str):
        return created
    if created.tzinfo is None or created.utcoffset() is None:
        # A naive time would be read in the machine's zone: not the same manifest everywhere.
        raise ManifestInvalidError("created must be a timezone-aware datetime", field="created")
    return format_time(created)


async def build_manifest(
    root: Path,
    *,
    namespace: str,
    name: str,
    version: str,
    kind: str,
    created: str | datetime,
    producer: Producer,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    subject: str | None = None,
    links: Iterable[Link] = (),
    digest: Callable[[ScannedFile], Awaitable[DigestPair]],
    follow_symlinks: bool = False,
) -> Manifest:
    """Scan ``root``, digest every file once with ``digest``, and return the validated manifest.

    The metadata is validated before any file is read, so a bad name fails fast. ``links`` are
    sorted by ``(rel, target)`` (the manifest keeps them as an ordered set). ``created`` may be
    RFC 3339 UTC text or an aware datetime. Files are digested one at a time, in path order.

    Raises:
        SizeMismatchError: ``digest`` read a different number of bytes than the walk saw (the
            file changed during the build).
        ManifestInvalidError, InvalidNameError, InvalidLabelError, InvalidPathError,
        InvalidDigestError, UnsupportedFileError, LimitExceededError: see
        :func:`scan_directory` and :func:`~artifact_store.manifest.validate.validate_manifest`.
    """
    header = validate_manifest(
        Manifest(
            namespace=namespace,
            name=name,
            version=version,
            kind=kind,
            created=_created_text(created),
            producer=producer,
            labels=labels or {},
            annotations=annotations or {},
            files=(),
            subject=subject,
            links=tuple(sorted(links, key=lambda link: (link.rel, link.target))),
        )
    )
    scanned = await asyncio.to_thread(scan_directory, root, follow_symlinks=follow_symlinks)
    entries: list[FileEntry] = []
    for item in scanned:
        pair = await digest(item)
        if pair.size != item.size:
            raise SizeMismatchError(
                f"file {item.path!r} changed during the build: the walk saw {item.size} bytes, "
                f"the digest read {pair.size}",
                path=item.path,
                expected=item.size,
                actual=pair.size,
            )
        entries.append(
            FileEntry(
                path=item.path,
                size=item.size,
                sha256=pair.sha256,
                blake3=pair.blake3,
                media_type=item.media_type,
                executable=item.executable,
            )
        )
    return validate_manifest(replace(header, files=tuple(entries)))
