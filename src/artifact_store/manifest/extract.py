"""Write a package's files into a directory: paths re-checked, digests verified, atomic.

Used by local ``pull`` (``ArtifactStore``) and by the SDK (remote ``pull``). Files land in a
hidden sibling directory first; only when every file is written, fsynced and verified against
both digests does one ``rename`` move the tree to the destination. A failure leaves the
destination untouched and removes the partial tree (CVE-2007-4559: a path can never escape).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from artifact_store.errors import (
    ArtifactStoreError,
    DigestMismatchError,
    InvalidInputError,
    InvalidPathError,
    SizeMismatchError,
)
from artifact_store.kernels.digest import Digester
from artifact_store.kernels.paths import validate_path
from artifact_store.manifest.model import FileEntry, Manifest

__all__ = ["OpenFile", "extract"]

#: Opens one file of the package as a stream of chunks.
type OpenFile = Callable[[FileEntry], Awaitable[AsyncIterator[bytes]]]


def _prepare(dest: Path) -> Path:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InvalidInputError(f"destination {dest} exists and is not an empty directory")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.parent / f".{dest.name}.partial-{secrets.token_hex(4)}"
    staging.mkdir()
    return staging


def _target(staging: Path, entry: FileEntry) -> Path:
    validate_path(entry.path)
    target = staging.joinpath(*entry.path.split("/"))
    if staging.resolve() not in target.resolve().parents:
        raise InvalidPathError(
            f"file path escapes the destination: {entry.path!r}", path=entry.path
        )
    return target


async def _write_one(staging: Path, entry: FileEntry, open_file: OpenFile) -> None:
    target = _target(staging, entry)
    await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
    digester = Digester(limit=entry.size)
    handle = await asyncio.to_thread(target.open, "xb")
    try:
        async for chunk in await open_file(entry):
            digester.update(chunk)
            await asyncio.to_thread(handle.write, chunk)
        await asyncio.to_thread(handle.flush)
        await asyncio.to_thread(os.fsync, handle.fileno())
    finally:
        handle.close()
    actual = digester.finish()
    if actual.size != entry.size:
        raise SizeMismatchError(
            f"{entry.path}: got {actual.size} bytes, manifest says {entry.size}", path=entry.path
        )
    if (actual.sha256, actual.blake3) != (entry.sha256, entry.blake3):
        raise DigestMismatchError(
            f"{entry.path}: content does not match the manifest digests",
            path=entry.path,
            expected=f"sha256:{entry.sha256}",
            actual=f"sha256:{actual.sha256}",
        )
    if entry.executable:
        await asyncio.to_thread(target.chmod, 0o755)


async def extract(
    manifest: Manifest,
    dest: Path,
    open_file: OpenFile,
    *,
    parallel: int = 4,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Write every file of ``manifest`` under ``dest`` (which must not exist or be empty).

    Raises:
        InvalidInputError: ``dest`` is a non-empty directory or a file.
        InvalidPathError, DigestMismatchError, SizeMismatchError: a bad file; nothing is left.
    """
    staging = await asyncio.to_thread(_prepare, dest)
    limit = asyncio.Semaphore(max(1, parallel))

    async def one(entry: FileEntry) -> None:
        async with limit:
            await _write_one(staging, entry, open_file)
        if progress is not None:
            progress(entry.size)

    try:
        async with asyncio.TaskGroup() as group:
            for entry in manifest.files:
                group.create_task(one(entry))
        if await asyncio.to_thread(dest.exists):
            await asyncio.to_thread(dest.rmdir)
        await asyncio.to_thread(os.rename, staging, dest)
    except BaseException as exc:
        await asyncio.to_thread(shutil.rmtree, staging, True)
        if isinstance(exc, BaseExceptionGroup):
            first = exc.exceptions[0]
            if isinstance(first, ArtifactStoreError):
                raise first from exc
        raise
