"""The read side: ``find_*`` returns None when absent, ``list_*`` returns pages or lists.

Only ``store.py`` calls these; front ends reach them through ``ArtifactStore``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, exists, func, or_, select, union
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_store.catalog.schema import (
    VIEW_TABLES,
    blobs,
    namespaces,
    package_files,
    package_labels,
    packages,
    tags,
)
from artifact_store.errors import InvalidInputError
from artifact_store.kernels.limits import MAX_PAGE_SIZE
from artifact_store.kernels.records import BlobRecord, PackageInfo, PackageQuery, Page, TagInfo
from artifact_store.manifest import FileEntry

__all__ = [
    "counts",
    "dump_views",
    "find_blob",
    "find_blob_by_blake3",
    "find_blobs",
    "find_file",
    "find_package",
    "find_package_version",
    "find_tag",
    "iter_blobs",
    "list_files",
    "list_packages",
    "list_tags",
    "namespace_exists",
    "packages_using_blobs",
    "tags_by_target",
]

_IN_BATCH = 500


def _blob(row: Row[Any]) -> BlobRecord:
    return BlobRecord(
        sha256=row.sha256,
        blake3=row.blake3,
        size=row.size,
        tier=row.tier,
        state=row.state,
        stored_at=row.stored_at,
        verified_at=row.verified_at,
    )


def _package(row: Row[Any], tag_names: Iterable[str] = ()) -> PackageInfo:
    return PackageInfo(
        digest=row.digest,
        namespace=row.namespace,
        name=row.name,
        version=row.version,
        kind=row.kind,
        created=row.created,
        producer=row.producer,
        labels=dict(row.labels),
        subject=row.subject,
        file_count=row.file_count,
        total_size=row.total_size,
        committed_at=row.committed_at,
        committed_seq=row.committed_seq,
        actor=row.actor,
        deleted=row.deleted_seq is not None,
        locked_until=row.locked_until,
        tags=tuple(sorted(tag_names)),
    )


def _tag(row: Row[Any]) -> TagInfo:
    return TagInfo(
        namespace=row.namespace,
        name=row.name,
        tag=row.tag,
        target=row.target,
        set_at=row.set_at,
        set_seq=row.set_seq,
    )


async def find_blob(conn: AsyncConnection, sha256: str) -> BlobRecord | None:
    """The blob row, or None."""
    row = (await conn.execute(select(blobs).where(blobs.c.sha256 == sha256))).first()
    return None if row is None else _blob(row)


async def find_blob_by_blake3(conn: AsyncConnection, blake3: str) -> BlobRecord | None:
    """The blob row whose blake3 is ``blake3``, or None."""
    row = (await conn.execute(select(blobs).where(blobs.c.blake3 == blake3))).first()
    return None if row is None else _blob(row)


async def find_blobs(conn: AsyncConnection, sha256s: Iterable[str]) -> dict[str, BlobRecord]:
    """The rows of every known blob among ``sha256s``."""
    wanted = sorted(set(sha256s))
    found: dict[str, BlobRecord] = {}
    for i in range(0, len(wanted), _IN_BATCH):
        rows = await conn.execute(
            select(blobs).where(blobs.c.sha256.in_(wanted[i : i + _IN_BATCH]))
        )
        found.update((r.sha256, _blob(r)) for r in rows)
    return found


async def iter_blobs(
    conn: AsyncConnection, *, batch: int = 1000
) -> AsyncIterator[list[BlobRecord]]:
    """Every blob row in sha256 order, in batches."""
    after = ""
    while True:
        rows = (
            await conn.execute(
                select(blobs).where(blobs.c.sha256 > after).order_by(blobs.c.sha256).limit(batch)
            )
        ).all()
        if not rows:
            return
        yield [_blob(r) for r in rows]
        after = rows[-1].sha256


async def tags_by_target(conn: AsyncConnection, digests: Sequence[str]) -> dict[str, list[str]]:
    """Tag names pointing at each of ``digests``."""
    out: dict[str, list[str]] = {}
    for i in range(0, len(digests), _IN_BATCH):
        rows = await conn.execute(
            select(tags.c.target, tags.c.tag).where(tags.c.target.in_(digests[i : i + _IN_BATCH]))
        )
        for row in rows:
            out.setdefault(row.target, []).append(row.tag)
    return out


async def find_package(conn: AsyncConnection, digest: str) -> PackageInfo | None:
    """The package with this manifest digest, or None."""
    row = (await conn.execute(select(packages).where(packages.c.digest == digest))).first()
    if row is None:
        return None
    return _package(row, (await tags_by_target(conn, [digest])).get(digest, ()))


async def find_package_version(
    conn: AsyncConnection, namespace: str, name: str, version: str
) -> PackageInfo | None:
    """The package at ``namespace/name@version``, or None."""
    row = (
        await conn.execute(
            select(packages.c.digest).where(
                packages.c.namespace == namespace,
                packages.c.name == name,
                packages.c.version == version,
            )
        )
    ).first()
    return None if row is None else await find_package(conn, row.digest)


async def find_tag(conn: AsyncConnection, namespace: str, name: str, tag: str) -> TagInfo | None:
    """The tag row, or None."""
    row = (
        await conn.execute(
            select(tags).where(
                tags.c.namespace == namespace, tags.c.name == name, tags.c.tag == tag
            )
        )
    ).first()
    return None if row is None else _tag(row)


async def list_tags(conn: AsyncConnection, namespace: str, name: str) -> list[TagInfo]:
    """Every tag of one package name, by tag."""
    rows = await conn.execute(
        select(tags).where(tags.c.namespace == namespace, tags.c.name == name).order_by(tags.c.tag)
    )
    return [_tag(r) for r in rows]


def _file(row: Row[Any]) -> FileEntry:
    return FileEntry(
        path=row.path,
        size=row.size,
        sha256=row.sha256,
        blake3=row.blake3,
        media_type=row.media_type,
        executable=row.executable,
    )


async def list_files(conn: AsyncConnection, digest: str) -> list[FileEntry]:
    """The files of a package, by path."""
    rows = await conn.execute(
        select(package_files)
        .where(package_files.c.package_digest == digest)
        .order_by(package_files.c.path)
    )
    return [_file(r) for r in rows]


async def find_file(conn: AsyncConnection, digest: str, path: str) -> FileEntry | None:
    """One file of a package, or None."""
    row = (
        await conn.execute(
            select(package_files).where(
                package_files.c.package_digest == digest, package_files.c.path == path
            )
        )
    ).first()
    return None if row is None else _file(row)


async def namespace_exists(conn: AsyncConnection, namespace: str) -> bool:
    """True when the namespace was created."""
    row = await conn.execute(select(namespaces.c.name).where(namespaces.c.name == namespace))
    return row.first() is not None


def _cursor_seq(cursor: str) -> int:
    if not cursor.isdigit() or len(cursor) > 19:
        raise InvalidInputError(f"invalid cursor {cursor[:40]!r}", cursor=cursor[:40])
    return int(cursor)


def _filters(query: PackageQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.prefix:
        prefix = query.prefix.rstrip("/")
        ns, _, leaf = prefix.rpartition("/")
        options = [
            packages.c.namespace == prefix,
            packages.c.namespace.startswith(prefix + "/", autoescape=True),
        ]
        if ns:
            options.append(and_(packages.c.namespace == ns, packages.c.name == leaf))
        where.append(or_(*options))
    if query.namespace:
        where.append(packages.c.namespace == query.namespace)
    if query.name:
        where.append(packages.c.name == query.name)
    if query.kind:
        where.append(packages.c.kind == query.kind)
    for key, value in sorted(query.labels.items()):
        where.append(
            exists().where(
                package_labels.c.package_digest == packages.c.digest,
                package_labels.c.key == key,
                package_labels.c.value == value,
            )
        )
    if query.since is not None:
        where.append(packages.c.committed_at >= query.since)
    if query.until is not None:
        where.append(packages.c.committed_at < query.until)
    if not query.include_deleted:
        where.append(packages.c.deleted_seq.is_(None))
    if query.cursor:
        where.append(packages.c.committed_seq < _cursor_seq(query.cursor))
    return where


async def list_packages(conn: AsyncConnection, query: PackageQuery) -> Page[PackageInfo]:
    """One page of packages matching ``query``, newest commit first."""
    limit = max(1, min(query.limit, MAX_PAGE_SIZE))
    rows = (
        await conn.execute(
            select(packages)
            .where(*_filters(query))
            .order_by(packages.c.committed_seq.desc())
            .limit(limit + 1)
        )
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    tag_map = await tags_by_target(conn, [r.digest for r in rows])
    items = [_package(r, tag_map.get(r.digest, ())) for r in rows]
    return Page(items, str(rows[-1].committed_seq) if more and rows else None)


async def packages_using_blobs(
    conn: AsyncConnection, sha256s: Sequence[str]
) -> dict[str, list[str]]:
    """For each blob, the refs (``ns/name@version``) of packages whose files or manifest it is."""
    out: dict[str, list[str]] = {}
    for i in range(0, len(sha256s), _IN_BATCH):
        part = list(sha256s[i : i + _IN_BATCH])
        as_files = select(
            package_files.c.sha256.label("blob"), package_files.c.package_digest
        ).where(package_files.c.sha256.in_(part))
        as_manifest = select(
            func.substr(packages.c.digest, 8).label("blob"),
            packages.c.digest.label("package_digest"),
        ).where(packages.c.digest.in_([f"sha256:{s}" for s in part]))
        used = union(as_files, as_manifest).subquery()
        rows = await conn.execute(
            select(used.c.blob, packages.c.namespace, packages.c.name, packages.c.version)
            .join(packages, packages.c.digest == used.c.package_digest)
            .order_by(used.c.blob, packages.c.namespace, packages.c.name, packages.c.version)
        )
        for row in rows:
            out.setdefault(row.blob, []).append(f"{row.namespace}/{row.name}@{row.version}")
    return out


async def counts(conn: AsyncConnection) -> dict[str, int]:
    """Stored blobs and live (not deleted) packages."""
    blob_count = await conn.execute(
        select(func.count()).select_from(blobs).where(blobs.c.state == "stored")
    )
    package_count = await conn.execute(
        select(func.count()).select_from(packages).where(packages.c.deleted_seq.is_(None))
    )
    return {"blobs": int(blob_count.scalar_one()), "packages": int(package_count.scalar_one())}


async def dump_views(conn: AsyncConnection) -> dict[str, list[tuple[Any, ...]]]:
    """Every view table's rows, sorted, for comparing a rebuild with the live views."""
    dump: dict[str, list[tuple[Any, ...]]] = {}
    for table in VIEW_TABLES:
        rows = (await conn.execute(select(table))).all()
        dump[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return dump
