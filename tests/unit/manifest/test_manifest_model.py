"""The manifest value types: conveniences, immutability, equality and hashing."""

import dataclasses
from datetime import UTC, datetime

import pytest

from artifact_store.errors import FileNotInPackageError
from artifact_store.kernels.names import PackageName
from artifact_store.manifest import FileEntry, Manifest, Producer


def test_package_name_and_ref(manifest: Manifest) -> None:
    assert manifest.package_name == PackageName("acme/ci", "report")
    assert manifest.ref == "acme/ci/report@1.2.0+build.7"


def test_total_size_sums_file_sizes(manifest: Manifest) -> None:
    assert manifest.total_size == len(b"# hello\n") + len(b"#!/bin/sh\n") + 0


def test_created_at_is_aware_utc(manifest: Manifest) -> None:
    assert manifest.created_at == datetime(2026, 3, 1, 12, 30, 0, 250000, tzinfo=UTC)


def test_file_finds_every_entry(manifest: Manifest) -> None:
    for entry in manifest.files:
        assert manifest.file(entry.path) is entry
        assert manifest.find_file(entry.path) is entry


@pytest.mark.parametrize("path", ["", "bin", "bin/run", "zzz", "A", "README.md/x"])
def test_file_missing_raises_not_found(manifest: Manifest, path: str) -> None:
    assert manifest.find_file(path) is None
    with pytest.raises(FileNotInPackageError):
        manifest.file(path)


def test_defaults_are_the_absent_forms() -> None:
    m = Manifest(
        namespace="a",
        name="b",
        version="1",
        kind="log",
        created="2026-01-01T00:00:00Z",
        producer=Producer("ci"),
        files=(),
    )
    assert m.schema == 1
    assert m.labels == {}
    assert m.annotations == {}
    assert m.subject is None
    assert m.links == ()
    assert Producer("ci") == Producer("ci", None, None)
    entry = FileEntry(path="a", size=0, sha256="0" * 64, blake3="0" * 64, media_type="a/b")
    assert entry.executable is False


def test_values_are_frozen(manifest: Manifest) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        manifest.kind = "log"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        manifest.files[0].size = 1  # type: ignore[misc]


def test_caller_containers_are_copied(manifest: Manifest) -> None:
    labels = {"a": "1"}
    files = list(manifest.files)
    m = dataclasses.replace(manifest, labels=labels, files=files)  # type: ignore[arg-type]
    labels["b"] = "2"
    files.clear()
    assert m.labels == {"a": "1"}
    assert isinstance(m.files, tuple)
    assert len(m.files) == 3


def test_equality_ignores_label_insertion_order(manifest: Manifest) -> None:
    reordered = dataclasses.replace(manifest, labels=dict(reversed(list(manifest.labels.items()))))
    assert reordered == manifest
    assert hash(reordered) == hash(manifest)


def test_different_labels_are_not_equal(manifest: Manifest) -> None:
    assert dataclasses.replace(manifest, labels={"git.commit": "other"}) != manifest


def test_manifest_is_hashable(manifest: Manifest) -> None:
    assert len({manifest, dataclasses.replace(manifest)}) == 1
