"""Fixtures for the manifest tests: one small valid manifest to vary with ``replace``."""

import hashlib

import pytest
from blake3 import blake3

from artifact_store.manifest import FileEntry, Link, Manifest, Producer


def _file_entry(path: str, content: bytes = b"", **changes: object) -> FileEntry:
    """A valid entry for ``content`` at ``path``; ``changes`` override any field."""
    fields: dict[str, object] = {
        "path": path,
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "blake3": blake3(content).hexdigest(),
        "media_type": "application/octet-stream",
    }
    fields.update(changes)
    return FileEntry(**fields)  # type: ignore[arg-type]


@pytest.fixture
def manifest() -> Manifest:
    """A valid manifest using every optional field."""
    return Manifest(
        namespace="acme/ci",
        name="report",
        version="1.2.0+build.7",
        kind="report",
        created="2026-03-01T12:30:00.25Z",
        producer=Producer("scanner", version="4.1", run="job-42"),
        labels={"git.commit": "0badc0de", "app.kubernetes.io/name": "web"},
        annotations={"note": "first line\nsecond line"},
        files=(
            _file_entry("README.md", b"# hello\n", media_type="text/markdown"),
            _file_entry("bin/run.sh", b"#!/bin/sh\n", executable=True),
            _file_entry("data/empty.txt", media_type="text/plain"),
        ),
        subject="sha256:" + "1" * 64,
        links=(
            Link("derived-from", "sha256:" + "2" * 64),
            Link("supersedes", "sha256:" + "3" * 64),
        ),
    )
