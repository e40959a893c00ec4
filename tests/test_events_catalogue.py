"""Every event payload: a unique, well-formed TYPE, TYPE ⇄ class, index fields, a projection.

``SAMPLES`` (one instance of each payload class, every optional field set) is shared with the
codec tests in ``tests/unit/ledger/test_event_codec.py``.
"""

import dataclasses
import re
import typing
from datetime import UTC, datetime

import pytest

from artifact_store.catalog.projections import project
from artifact_store.ledger.chain import GENESIS
from artifact_store.ledger.events import (
    PAYLOAD_TYPES,
    BlobDeleted,
    BlobRestored,
    BlobRestoreRequested,
    BlobStored,
    BlobTierChanged,
    BlobVerified,
    HoldPlaced,
    HoldReleased,
    NamespaceCreated,
    PackageCommitted,
    PackageDeleted,
    PackageLocked,
    Payload,
    RetentionPolicySet,
    TagRemoved,
    TagSet,
    TokenIssued,
    TokenRevoked,
    index_fields,
)
from artifact_store.ledger.log import Head, build
from artifact_store.manifest import FileEntry, Link, Manifest, Producer, manifest_digest

#: The blueprint's v1 event types.
BLUEPRINT_TYPES = frozenset(
    {
        "namespace.created",
        "blob.stored",
        "blob.verified",
        "blob.tier_changed",
        "blob.restore_requested",
        "blob.restored",
        "blob.deleted",
        "package.committed",
        "package.deleted",
        "package.locked",
        "tag.set",
        "tag.removed",
        "retention.policy_set",
        "hold.placed",
        "hold.released",
        "token.issued",
        "token.revoked",
    }
)

SHA_A = "a" * 64
SHA_B = "b" * 64

MANIFEST = Manifest(
    namespace="acme/ci",
    name="report",
    version="1.2.0+build.7",
    kind="report",
    created="2026-03-01T12:30:00.25Z",
    producer=Producer("scanner", version="4.1", run="job-42"),
    labels={"git.commit": "0badc0de"},
    annotations={"note": "first line\nsecond line"},
    files=(
        FileEntry(path="README.md", size=8, sha256=SHA_A, blake3=SHA_B, media_type="text/markdown"),
        FileEntry(
            path="bin/run.sh",
            size=10,
            sha256=SHA_B,
            blake3=SHA_A,
            media_type="application/octet-stream",
            executable=True,
        ),
    ),
    subject="sha256:" + "1" * 64,
    links=(Link("derived-from", "sha256:" + "2" * 64),),
)
PACKAGE = manifest_digest(MANIFEST)

#: One payload of every class, with every optional field set.
SAMPLES: tuple[Payload, ...] = (
    NamespaceCreated(namespace="acme/ci"),
    BlobStored(sha256=SHA_A, blake3=SHA_B, size=1234),
    BlobVerified(sha256=SHA_A),
    BlobTierChanged(sha256=SHA_A, tier="archive"),
    BlobRestoreRequested(sha256=SHA_A),
    BlobRestored(sha256=SHA_A),
    BlobDeleted(sha256=SHA_A),
    PackageCommitted(digest=PACKAGE, manifest=MANIFEST),
    PackageDeleted(digest=PACKAGE, reason="superseded"),
    PackageLocked(digest=PACKAGE, until="2027-01-01T00:00:00Z", mode="compliance"),
    TagSet(namespace="acme/ci", name="report", tag="latest", target=PACKAGE),
    TagRemoved(namespace="acme/ci", name="report", tag="latest"),
    RetentionPolicySet(
        policy_id="keep-10",
        namespace="acme/ci",
        selector={"kind": "report"},
        keep_last=10,
        max_age_days=90,
        lock_days=30,
        lock_mode="governance",
    ),
    HoldPlaced(hold_id="hold-1", digest=PACKAGE, reason="litigation 42"),
    HoldReleased(hold_id="hold-1"),
    TokenIssued(
        token_id="tok-1",
        principal="ci-bot",
        token_sha256=SHA_B,
        scopes=["acme/ci:pull", "acme/ci:push"],
        expires_at="2026-12-31T23:59:59Z",
    ),
    TokenRevoked(token_id="tok-1"),
)

NOW = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
PAYLOAD_CLASSES = list(PAYLOAD_TYPES.values())


def by_type(type_name: str) -> Payload:
    """The sample payload of one event type."""
    (sample,) = [p for p in SAMPLES if type_name == p.TYPE]
    return sample


def test_samples_cover_every_payload_class_once() -> None:
    assert sorted(type(p).__name__ for p in SAMPLES) == sorted(
        cls.__name__ for cls in PAYLOAD_CLASSES
    )


def test_samples_set_every_optional_field() -> None:
    for sample in SAMPLES:
        unset = [f.name for f in dataclasses.fields(sample) if getattr(sample, f.name) is None]
        assert unset == [], sample.TYPE


def test_payload_union_lists_every_class() -> None:
    members = typing.get_args(Payload.__value__)
    assert set(members) == set(PAYLOAD_CLASSES)


@pytest.mark.parametrize("cls", PAYLOAD_CLASSES, ids=lambda cls: cls.TYPE)
def test_type_is_noun_dot_past_participle(cls: type[Payload]) -> None:
    assert re.fullmatch(r"[a-z]+\.[a-z_]+", cls.TYPE)


def test_types_are_unique() -> None:
    types = [cls.TYPE for cls in PAYLOAD_CLASSES]
    assert len(types) == len(set(types)) == 17


@pytest.mark.parametrize("type_name", sorted(PAYLOAD_TYPES))
def test_payload_types_maps_type_to_its_class(type_name: str) -> None:
    assert type_name == PAYLOAD_TYPES[type_name].TYPE


def test_types_are_the_blueprint_v1_types() -> None:
    assert set(PAYLOAD_TYPES) == BLUEPRINT_TYPES


@pytest.mark.parametrize("cls", PAYLOAD_CLASSES, ids=lambda cls: cls.TYPE)
def test_payload_classes_are_frozen_keyword_only(cls: type[Payload]) -> None:
    params = cls.__dataclass_params__  # type: ignore[union-attr]
    assert params.frozen
    assert all(f.kw_only for f in dataclasses.fields(cls))


EXPECTED_INDEX: dict[str, tuple[str | None, str | None]] = {
    "namespace.created": ("acme/ci", "acme/ci"),
    "blob.stored": (None, f"sha256:{SHA_A}"),
    "blob.verified": (None, f"sha256:{SHA_A}"),
    "blob.tier_changed": (None, f"sha256:{SHA_A}"),
    "blob.restore_requested": (None, f"sha256:{SHA_A}"),
    "blob.restored": (None, f"sha256:{SHA_A}"),
    "blob.deleted": (None, f"sha256:{SHA_A}"),
    "package.committed": ("acme/ci", PACKAGE),
    "package.deleted": (None, PACKAGE),
    "package.locked": (None, PACKAGE),
    "tag.set": ("acme/ci", "acme/ci/report:latest"),
    "tag.removed": ("acme/ci", "acme/ci/report:latest"),
    "retention.policy_set": ("acme/ci", "keep-10"),
    "hold.placed": (None, PACKAGE),
    "hold.released": (None, "hold-1"),
    "token.issued": (None, "tok-1"),
    "token.revoked": (None, "tok-1"),
}


def test_expected_index_covers_every_type() -> None:
    assert set(EXPECTED_INDEX) == set(PAYLOAD_TYPES)


@pytest.mark.parametrize("type_name", sorted(PAYLOAD_TYPES))
def test_index_fields(type_name: str) -> None:
    assert index_fields(by_type(type_name)) == EXPECTED_INDEX[type_name]


@pytest.mark.parametrize("type_name", sorted(PAYLOAD_TYPES))
def test_every_type_projects_to_at_least_one_op(type_name: str) -> None:
    (event,) = build(Head(0, GENESIS), [by_type(type_name)], actor="tester", now=NOW)
    assert event.type == type_name
    assert len(project(event)) >= 1
