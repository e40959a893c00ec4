"""The directory builder: what a walk keeps and rejects, media types, and build_manifest."""

import asyncio
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest

from artifact_store.errors import (
    InvalidInputError,
    InvalidNameError,
    InvalidPathError,
    ManifestInvalidError,
    SizeMismatchError,
    UnsupportedFileError,
)
from artifact_store.kernels.digest import DigestPair, digest_file
from artifact_store.manifest import (
    DEFAULT_MEDIA_TYPE,
    Link,
    Manifest,
    Producer,
    ScannedFile,
    build_manifest,
    guess_media_type,
    manifest_digest,
    scan_directory,
)

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def write(root: Path, rel: str, content: bytes = b"", *, mode: int = 0o644) -> Path:
    path = root.joinpath(*rel.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    path.chmod(mode)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    write(root, "README.md", b"# hi\n")
    write(root, "bin/run.sh", b"#!/bin/sh\necho hi\n", mode=0o755)
    write(root, "data/empty.txt")
    write(root, "data/nested/deeper/report.json", b"{}")
    write(root, "données/résumé.pdf", b"%PDF")
    write(root, "Z-upper.bin", b"\x00\x01")
    (root / "empty-dir" / "inner").mkdir(parents=True)
    return root


def paths(files: list[ScannedFile]) -> list[str]:
    return [f.path for f in files]


# --- scan_directory ---------------------------------------------------------------------------


def test_scan_lists_regular_files_sorted_by_manifest_path(tree: Path) -> None:
    assert paths(scan_directory(tree)) == [
        "README.md",
        "Z-upper.bin",
        "bin/run.sh",
        "data/empty.txt",
        "data/nested/deeper/report.json",
        "données/résumé.pdf",
    ]


def test_scan_records_size_source_and_media_type(tree: Path) -> None:
    by_path = {f.path: f for f in scan_directory(tree)}
    report = by_path["data/nested/deeper/report.json"]
    assert report.source == tree / "data" / "nested" / "deeper" / "report.json"
    assert report.size == 2
    assert report.media_type == "application/json"
    assert by_path["données/résumé.pdf"].media_type == "application/pdf"
    assert by_path["Z-upper.bin"].media_type == DEFAULT_MEDIA_TYPE


def test_scan_keeps_empty_files(tree: Path) -> None:
    by_path = {f.path: f for f in scan_directory(tree)}
    assert by_path["data/empty.txt"].size == 0


def test_scan_leaves_out_empty_directories(tree: Path) -> None:
    assert not any(p.startswith("empty-dir") for p in paths(scan_directory(tree)))


def test_scan_keeps_the_owner_executable_bit(tree: Path) -> None:
    write(tree, "group-exec", mode=0o654)  # group and other may execute, the owner may not
    by_path = {f.path: f for f in scan_directory(tree)}
    assert by_path["bin/run.sh"].executable is True
    assert by_path["README.md"].executable is False
    assert by_path["group-exec"].executable is False


def test_scan_of_an_empty_directory_is_empty(tmp_path: Path) -> None:
    assert scan_directory(tmp_path) == []


def test_scan_root_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        scan_directory(write(tmp_path, "file"))
    with pytest.raises(InvalidInputError):
        scan_directory(tmp_path / "missing")


def test_scan_rejects_a_file_symlink_by_default(tree: Path) -> None:
    (tree / "data" / "link").symlink_to(tree / "README.md")
    with pytest.raises(UnsupportedFileError, match="data/link"):
        scan_directory(tree)


def test_scan_rejects_a_directory_symlink_by_default(tree: Path) -> None:
    (tree / "linked").symlink_to(tree / "data", target_is_directory=True)
    with pytest.raises(UnsupportedFileError, match="linked"):
        scan_directory(tree)


def test_scan_follows_symlinks_when_asked(tree: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside, "x.txt", b"outside")
    (tree / "alias.md").symlink_to(tree / "README.md")
    (tree / "ext").symlink_to(outside, target_is_directory=True)
    by_path = {f.path: f for f in scan_directory(tree, follow_symlinks=True)}
    assert by_path["alias.md"].size == by_path["README.md"].size
    assert by_path["ext/x.txt"].source.read_bytes() == b"outside"


def test_scan_allows_two_links_to_one_directory(tree: Path) -> None:
    (tree / "one").symlink_to(tree / "data" / "nested", target_is_directory=True)
    (tree / "two").symlink_to(tree / "data" / "nested", target_is_directory=True)
    found = paths(scan_directory(tree, follow_symlinks=True))
    assert {"one/deeper/report.json", "two/deeper/report.json"} <= set(found)


def test_scan_rejects_a_symlink_cycle(tree: Path) -> None:
    (tree / "data" / "nested" / "up").symlink_to(tree / "data", target_is_directory=True)
    with pytest.raises(UnsupportedFileError, match="cycle"):
        scan_directory(tree, follow_symlinks=True)


def test_scan_rejects_a_dangling_symlink(tree: Path) -> None:
    (tree / "dangling").symlink_to(tree / "nowhere")
    with pytest.raises(UnsupportedFileError, match="dangling"):
        scan_directory(tree, follow_symlinks=True)


@pytest.mark.parametrize("follow", [False, True])
def test_scan_rejects_a_fifo(tree: Path, follow: bool) -> None:
    os.mkfifo(tree / "data" / "pipe")
    with pytest.raises(UnsupportedFileError, match="FIFO"):
        scan_directory(tree, follow_symlinks=follow)


def test_scan_rejects_a_socket(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "s"))
        with pytest.raises(UnsupportedFileError, match="socket"):
            scan_directory(tmp_path)


def test_scan_rejects_a_device_file_behind_a_followed_link(tmp_path: Path) -> None:
    (tmp_path / "null").symlink_to("/dev/null")
    with pytest.raises(UnsupportedFileError, match="device"):
        scan_directory(tmp_path, follow_symlinks=True)


def test_scan_rejects_a_non_nfc_name(tmp_path: Path) -> None:
    write(tmp_path, "dir/e\u0301.txt")  # "é" decomposed: Linux keeps the bytes as given
    with pytest.raises(InvalidPathError, match="NFC"):
        scan_directory(tmp_path)


def test_scan_rejects_a_name_that_is_not_utf8(tmp_path: Path) -> None:
    fd = os.open(os.fsencode(tmp_path) + b"/bad-\xff.txt", os.O_CREAT | os.O_WRONLY, 0o644)
    os.close(fd)
    with pytest.raises(InvalidPathError, match="UTF-8"):
        scan_directory(tmp_path)


@pytest.mark.parametrize("name", ["back\\slash", "tab\there", "new\nline"])
def test_scan_rejects_names_the_path_rules_forbid(tmp_path: Path, name: str) -> None:
    write(tmp_path, name)
    with pytest.raises(InvalidPathError):
        scan_directory(tmp_path)


# --- media types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("report.json", "application/json"),
        ("notes.txt", "text/plain"),
        ("README.md", "text/markdown"),
        ("index.HTML", "text/html"),
        ("table.csv", "text/csv"),
        ("junit.xml", "application/xml"),
        ("TEST-suite.xml", "application/xml"),
        ("ci.yaml", "application/yaml"),
        ("ci.yml", "application/yaml"),
        ("doc.pdf", "application/pdf"),
        ("a/b/shot.PNG", "image/png"),
        ("photo.jpeg", "image/jpeg"),
        ("photo.jpg", "image/jpeg"),
        ("logo.svg", "image/svg+xml"),
        ("bundle.tar", "application/x-tar"),
        ("bundle.tar.gz", "application/gzip"),
        ("bundle.tgz", "application/gzip"),
        ("bundle.zip", "application/zip"),
        ("bundle.tar.zst", "application/zstd"),
        ("build.log", "text/plain"),
        ("scan.sarif", "application/sarif+json"),
        ("scan.sarif.json", "application/sarif+json"),
        ("sbom.spdx.json", "application/spdx+json"),
        ("bom.cdx.json", "application/vnd.cyclonedx+json"),
        ("program", DEFAULT_MEDIA_TYPE),
        (".json", DEFAULT_MEDIA_TYPE),
        ("dir.json/file", DEFAULT_MEDIA_TYPE),
        ("archive.unknownext", DEFAULT_MEDIA_TYPE),
        ("trailing.", DEFAULT_MEDIA_TYPE),
    ],
)
def test_guess_media_type_uses_the_builtin_table(name: str, media_type: str) -> None:
    assert guess_media_type(name) == media_type


# --- build_manifest ---------------------------------------------------------------------------


class Recorder:
    """A digest callback that hashes the file and remembers what it was asked for."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, scanned: ScannedFile) -> DigestPair:
        self.seen.append(scanned.path)
        return await asyncio.to_thread(digest_file, scanned.source)


async def build(root: Path, **overrides: object) -> Manifest:
    options: dict[str, object] = {
        "namespace": "acme/ci",
        "name": "report",
        "version": "1.0.0",
        "kind": "report",
        "created": "2026-01-01T00:00:00Z",
        "producer": Producer("pytest"),
        "digest": Recorder(),
    }
    options.update(overrides)
    return await build_manifest(root, **options)  # type: ignore[arg-type]


async def test_build_digests_each_file_once(tree: Path) -> None:
    recorder = Recorder()
    m = await build(tree, digest=recorder)
    assert recorder.seen == [entry.path for entry in m.files]
    assert [entry.path for entry in m.files] == paths(scan_directory(tree))


async def test_build_fills_file_entries(tree: Path) -> None:
    m = await build(tree)
    script = m.file("bin/run.sh")
    pair = digest_file(tree / "bin" / "run.sh")
    assert (script.size, script.sha256, script.blake3) == (pair.size, pair.sha256, pair.blake3)
    assert script.executable is True
    assert script.media_type == DEFAULT_MEDIA_TYPE
    assert m.file("data/empty.txt").size == 0
    assert m.file("README.md").media_type == "text/markdown"


async def test_build_carries_the_metadata(tree: Path) -> None:
    m = await build(
        tree,
        labels={"git.commit": "abc"},
        annotations={"note": "x"},
        subject=DIGEST_A,
        links=[Link("supersedes", DIGEST_B), Link("derived-from", DIGEST_A)],
    )
    assert m.labels == {"git.commit": "abc"}
    assert m.annotations == {"note": "x"}
    assert m.subject == DIGEST_A
    assert m.links == (Link("derived-from", DIGEST_A), Link("supersedes", DIGEST_B))


async def test_build_is_deterministic(tree: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    for scanned in scan_directory(tree):
        mode = 0o755 if scanned.executable else 0o644
        write(copy, scanned.path, scanned.source.read_bytes(), mode=mode)
    assert manifest_digest(await build(tree)) == manifest_digest(await build(copy))


async def test_build_accepts_an_aware_datetime(tree: Path) -> None:
    at = datetime(2026, 5, 4, 3, 2, 1, 500000, tzinfo=UTC)
    assert (await build(tree, created=at)).created == "2026-05-04T03:02:01.5Z"


async def test_build_rejects_a_naive_datetime(tree: Path) -> None:
    with pytest.raises(ManifestInvalidError):
        await build(tree, created=datetime(2026, 5, 4))  # noqa: DTZ001


async def test_build_checks_metadata_before_reading_files(tree: Path) -> None:
    recorder = Recorder()
    with pytest.raises(InvalidNameError):
        await build(tree, namespace="Not/Valid", digest=recorder)
    assert recorder.seen == []


async def test_build_detects_a_file_that_changed(tree: Path) -> None:
    async def grow_then_digest(scanned: ScannedFile) -> DigestPair:
        with scanned.source.open("ab") as handle:
            handle.write(b"more")
        return await asyncio.to_thread(digest_file, scanned.source)

    with pytest.raises(SizeMismatchError, match="changed during the build"):
        await build(tree, digest=grow_then_digest)


async def test_build_propagates_scan_errors(tree: Path) -> None:
    os.mkfifo(tree / "pipe")
    with pytest.raises(UnsupportedFileError):
        await build(tree)


async def test_build_follows_symlinks_when_asked(tree: Path) -> None:
    (tree / "alias.md").symlink_to(tree / "README.md")
    with pytest.raises(UnsupportedFileError):
        await build(tree)
    m = await build(tree, follow_symlinks=True)
    assert m.file("alias.md").sha256 == m.file("README.md").sha256
