"""The replay's fold (``catalog.replay.Window``), without a database.

The fast handlers must build exactly the rows ``projections.project`` builds; the fold of row
operations must follow its rules (a row per primary key, pending writes for rows it cannot see).
The rows written to a database are checked in ``tests/integration/test_invariants.py`` and
``tests/integration/test_rebuild_shared.py`` (rebuilt views equal to the live ones).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Dialect
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.dialects.sqlite.aiosqlite import dialect as aiosqlite_dialect
from tests.strategies import manifests
from tests.test_events_catalogue import SAMPLES

from artifact_store.catalog.ops import Op
from artifact_store.catalog.replay import Window, _sqlite_time, _time_binder
from artifact_store.catalog.schema import blobs, tags
from artifact_store.errors import EncodingError
from artifact_store.kernels.clock import format_time
from artifact_store.ledger.codec import encode_body
from artifact_store.ledger.events import (
    BlobStored,
    NamespaceCreated,
    PackageCommitted,
    Payload,
    TagRemoved,
    TagSet,
)
from artifact_store.manifest import FileEntry, Manifest, Producer, manifest_digest


def postgresql() -> Dialect:
    return asyncpg_dialect()  # type: ignore[no-untyped-call]


DIALECTS = pytest.mark.parametrize(
    "dialect", [aiosqlite_dialect(), postgresql()], ids=["sqlite", "postgresql"]
)
T0 = datetime(2026, 3, 1, 12, 30, 0, 250_000, tzinfo=UTC)


def body(seq: int, payload: Payload, *, time: datetime = T0) -> tuple[int, bytes, bytes, bytes]:
    data = encode_body(seq=seq, id=uuid.uuid4(), time=time, actor="ci-bot", payload=payload)
    return seq, data, b"", b""  # the fold does not look at the chain columns


def fold(dialect: Dialect, payloads: list[Payload], *, fast: bool) -> Window:
    window = Window(dialect)
    if not fast:
        window._fast = {}  # every event through log.to_event + project
    for seq, payload in enumerate(payloads, start=1):
        window.add(*body(seq, payload, time=T0 + timedelta(seconds=seq, microseconds=seq * 7)))
    return window


def state(window: Window) -> dict[str, Any]:
    return {
        "rows": {name: dict(f.rows) for name, f in window._folds.items() if f.rows},
        "upsert": {name for name, f in window._folds.items() if f.upsert},
        "pending": [
            (step.kind, step.table.name, step.values)
            if isinstance(step, Op)
            else (step.kind, step.table.name, step.rows)
            for step in window._pending
        ],
    }


@DIALECTS
def test_fast_handlers_fold_what_project_folds(dialect: Dialect) -> None:
    """Every sample payload, in catalogue order (which exercises updates and deletes too)."""
    payloads = list(SAMPLES)
    assert state(fold(dialect, payloads, fast=True)) == state(fold(dialect, payloads, fast=False))


@DIALECTS
@given(manifest=manifests(), executable=st.booleans(), version=st.none() | st.just("2.0"))
def test_package_rows_match_project_for_any_manifest(
    dialect: Dialect, manifest: Manifest, executable: bool, version: str | None
) -> None:
    digest = manifest_digest(manifest)
    payloads: list[Payload] = [
        NamespaceCreated(namespace=manifest.namespace),
        BlobStored(sha256="c" * 64, blake3="d" * 64, size=len(manifest.files)),
        PackageCommitted(digest=digest, manifest=manifest),
        TagSet(namespace=manifest.namespace, name=manifest.name, tag="t", target=digest),
    ]
    assert state(fold(dialect, payloads, fast=True)) == state(fold(dialect, payloads, fast=False))


@DIALECTS
def test_a_tag_moved_many_times_folds_to_one_row(dialect: Dialect) -> None:
    moves: list[Payload] = [
        TagSet(namespace="ns", name="app", tag="latest", target=f"sha256:{i:064x}")
        for i in range(50)
    ]
    window = fold(dialect, moves, fast=True)
    (row,) = window._folds["tags"].rows.values()
    assert row[3] == f"sha256:{49:064x}"
    assert row[5] == 50  # set_seq of the last move


@DIALECTS
def test_removed_tag_leaves_no_row_and_a_pending_delete(dialect: Dialect) -> None:
    payloads: list[Payload] = [
        TagSet(namespace="ns", name="app", tag="latest", target="sha256:" + "1" * 64),
        TagRemoved(namespace="ns", name="app", tag="latest"),
    ]
    window = fold(dialect, payloads, fast=True)
    assert not window._folds["tags"].rows
    assert state(window)["pending"] == [
        ("delete", "tags", {"namespace": "ns", "name": "app", "tag": "latest"})
    ]


def test_update_of_a_row_outside_the_window_is_pending_and_inside_it_edits() -> None:
    window = Window(aiosqlite_dialect())
    outside = Op(
        "update", blobs, {"sha256": "a" * 64, "state": "deleted", "changed_seq": 9}, ("sha256",)
    )
    window.apply(outside)
    assert window._pending == [outside]
    window.add(*body(10, BlobStored(sha256="b" * 64, blake3="c" * 64, size=3)))
    window.apply(
        Op("update", blobs, {"sha256": "b" * 64, "tier": "cold", "changed_seq": 11}, ("sha256",))
    )
    (row,) = window._folds["blobs"].rows.values()
    assert (row[3], row[8]) == ("cold", 11)
    assert window._pending == [outside]


def test_an_operation_not_by_primary_key_is_a_barrier() -> None:
    window = Window(aiosqlite_dialect())
    window.add(*body(1, TagSet(namespace="ns", name="a", tag="t", target="sha256:" + "1" * 64)))
    by_target = Op("delete", tags, {"target": "sha256:" + "1" * 64}, ("target",))
    window.apply(by_target)
    assert not window._folds["tags"].rows
    kinds = [type(step).__name__ for step in window._pending]
    assert kinds == ["_Rows", "Op"]  # the folded row is written before the delete runs


def test_a_body_that_is_not_an_envelope_is_an_encoding_error() -> None:
    import cbor2

    window = Window(aiosqlite_dialect())
    bad = cbor2.dumps({"type": "blob.stored", "seq": 1, "time": "x", "actor": "a"})
    with pytest.raises(EncodingError):
        window.add(1, bad, b"", b"")


@given(
    st.datetimes(
        min_value=datetime(1000, 1, 1),  # noqa: DTZ001
        max_value=datetime(9999, 12, 31, 23, 59, 59, 999_999),  # noqa: DTZ001
        timezones=st.just(UTC),
    )
)
def test_sqlite_time_text_is_what_the_column_binds(at: datetime) -> None:
    dialect = aiosqlite_dialect()
    assert _sqlite_time(format_time(at)) == _time_binder(dialect)(at)


def test_manifest_without_optional_parts_folds_like_project() -> None:
    manifest = Manifest(
        namespace="ns",
        name="bare",
        version="1",
        kind="k",
        created="2026-03-01T00:00:00Z",
        producer=Producer("p"),
        files=(FileEntry(path="f", size=0, sha256="e" * 64, blake3="f" * 64, media_type="x/y"),),
    )
    payloads: list[Payload] = [
        PackageCommitted(digest=manifest_digest(manifest), manifest=manifest)
    ]
    for dialect in (aiosqlite_dialect(), postgresql()):
        assert state(fold(dialect, payloads, fast=True)) == state(
            fold(dialect, payloads, fast=False)
        )
