"""The async SDK against the real app, in-process (``httpx.ASGITransport``): push, pull,
resumable uploads, tags, search, events, and the library's error classes over the wire."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import make_tree
from tests.e2e.test_client_support import Recorder, app_client, tree_files, write_random

from artifact_store.client import (
    AsyncClient,
    BlobNotFoundError,
    FileNotInPackageError,
    InvalidInputError,
    InvalidRefError,
    MissingBlobsError,
    PackageNotFoundError,
    RetryPolicy,
    TagNotFoundError,
    UnavailableError,
    VersionConflictError,
)
from artifact_store.manifest import FileEntry, Manifest, Producer, manifest_digest
from artifact_store.server.app import create_app
from artifact_store.server.settings import Settings

pytestmark = pytest.mark.e2e


async def test_push_pull_round_trip(tmp_path: Path, tree: Path) -> None:
    async with app_client(tmp_path / "data", tmp_path / "cache") as client:
        result = await client.push_directory(
            tree, "acme/ci/report@1.0", kind="report", labels={"git.commit": "abc"}, tags=["latest"]
        )
        assert result.created is True
        info, _, data = await client.get_manifest("acme/ci/report:latest")
        assert info == result.package
        assert info.digest == manifest_digest(data)
        assert info.labels == {"git.commit": "abc"}
        assert info.tags == ("latest",)
        assert info.actor == "anonymous"  # the server attributes remote mutations
        pulled = await client.pull("acme/ci/report@1.0", tmp_path / "out" / "copy")
        assert pulled.digest == info.digest
    assert tree_files(tmp_path / "out" / "copy") == tree_files(tree)
    assert os.access(tmp_path / "out" / "copy" / "bin" / "run.sh", os.X_OK)


async def test_identical_repush_is_a_no_op(tmp_path: Path, tree: Path) -> None:
    async with app_client(tmp_path / "data", tmp_path / "cache") as client:
        first = await client.push_directory(tree, "acme/ci/report@1.0")
        head = (await client.read_events(limit=1000))[-1].seq
        again = await client.push_directory(tree, "acme/ci/report@1.0")
        assert again.created is False
        assert again.package.digest == first.package.digest
        assert again.package.created == first.package.created
        assert (await client.read_events(after=head)) == []


async def test_a_different_tree_conflicts_before_any_byte_moves(tmp_path: Path, tree: Path) -> None:
    async with app_client(tmp_path / "data", tmp_path / "cache") as client:
        first = await client.push_directory(tree, "acme/ci/report@1.0")
        head = (await client.read_events(limit=1000))[-1].seq
        make_tree(tree, {"new.txt": b"changed content"})
        with pytest.raises(VersionConflictError) as caught:
            await client.push_directory(tree, "acme/ci/report@1.0")
        assert caught.value.extra["existing"] == first.package.digest
        new_blob = "sha256:" + hashlib.sha256(b"changed content").hexdigest()
        assert await client.missing_blobs([new_blob]) == [new_blob]
        assert (await client.read_events(after=head)) == []


async def test_only_missing_blobs_are_sent(tmp_path: Path, tree: Path) -> None:
    app = create_app(Settings(data=tmp_path / "data"))
    async with app.router.lifespan_context(app):
        recorder = Recorder(httpx.ASGITransport(app=app))
        async with AsyncClient(
            "http://test", transport=recorder, cache_dir=tmp_path / "cache"
        ) as client:
            await client.push_directory(tree, "acme/ci/report@1.0")
            # four small files in one batch request; the 300 kB one (over BATCH_BLOB) alone
            assert recorder.paths("POST") == [
                "/v1/blobs/missing",
                "/v1/blobs/batch",
                "/v1/packages",
            ]
            assert recorder.paths("PUT") == ["/v1/blobs"]
            recorder.requests.clear()
            make_tree(tree, {"extra.txt": b"only this is new"})
            await client.push_directory(tree, "acme/ci/report@2.0")
            assert recorder.paths("POST") == [
                "/v1/blobs/missing",
                "/v1/blobs/batch",
                "/v1/packages",
            ]
            new = b"only this is new"
            header = f"sha256:{hashlib.sha256(new).hexdigest()} {len(new)}\n".encode()
            assert recorder.sent("POST", "/v1/blobs/batch") == len(header) + len(new)


async def test_push_falls_back_to_one_request_per_blob_without_the_batch_endpoint(
    tmp_path: Path, tree: Path
) -> None:
    app = create_app(Settings(data=tmp_path / "data"))

    async def older_server(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/v1/blobs/batch":
            await send({"type": "http.response.start", "status": 405, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await app(scope, receive, send)

    async with app.router.lifespan_context(app):
        recorder = Recorder(httpx.ASGITransport(app=older_server))
        async with AsyncClient(
            "http://test", transport=recorder, cache_dir=tmp_path / "cache"
        ) as client:
            result = await client.push_directory(tree, "acme/ci/report@1.0")
            assert result.created
            assert recorder.paths("PUT") == ["/v1/blobs"] * 5
            await client.pull("acme/ci/report@1.0", tmp_path / "out")
    assert tree_files(tmp_path / "out") == tree_files(tree)


async def test_large_files_upload_in_resumable_chunks(tmp_path: Path) -> None:
    big = tmp_path / "tree" / "big.bin"
    write_random(big, 5 << 20)
    app = create_app(Settings(data=tmp_path / "data"))
    async with app.router.lifespan_context(app):
        recorder = Recorder(httpx.ASGITransport(app=app))
        recorder.fail_patch = {13}  # the 13th chunk never arrives; the first run gives up
        async with AsyncClient(
            "http://test",
            transport=recorder,
            cache_dir=tmp_path / "cache",
            retry=RetryPolicy(attempts=1),
        ) as first:
            with pytest.raises(UnavailableError):
                await first.upload_file(big, chunk_size=256 << 10)
        assert recorder.sent("PATCH") == 12 * (256 << 10)
        recorder.requests.clear()
        async with AsyncClient(
            "http://test", transport=recorder, cache_dir=tmp_path / "cache"
        ) as second:
            info = await second.upload_file(big, chunk_size=256 << 10)
            assert recorder.requests[0][0] == "HEAD"  # asked the server where it stands
            assert recorder.paths("POST") == []  # and continued that session
            assert recorder.sent("PATCH") == (5 << 20) - 12 * (256 << 10)
            chunks = [c async for c in second.open_blob(info.digest)]
            assert b"".join(chunks) == big.read_bytes()
            assert (await second.stat_blob(info.digest)).size == 5 << 20
    assert not any((tmp_path / "cache").rglob("*.json"))


async def test_tags_set_move_list_remove(tmp_path: Path, tree: Path) -> None:
    async with app_client(tmp_path / "data", tmp_path / "cache") as client:
        one = (await client.push_directory(tree, "acme/ci/report@1.0")).package
        make_tree(tree, {"v2.txt": b"2"})
        two = (await client.push_directory(tree, "acme/ci/report@2.0")).package
        assert (await client.set_tag("acme/ci/report@1.0", "stable")).digest == one.digest
        assert (await client.set_tag(f"acme/ci/report@{two.digest}", "latest")).version == "2.0"
        assert (await client.set_tag(two.digest, "stable")).digest == two.digest  # moved
        assert (await client.set_tag("acme/ci/report:stable", "prod")).digest == two.digest
        tags = {t.tag: t.target for t in await client.list_tags("acme/ci", "report")}
        assert tags == {"latest": two.digest, "stable": two.digest, "prod": two.digest}
        await client.remove_tag("acme/ci", "report", "prod")
        with pytest.raises(TagNotFoundError):
            await client.remove_tag("acme/ci", "report", "prod")
        with pytest.raises(TagNotFoundError):
            await client.resolve("acme/ci/report:prod")


async def test_search_and_versions(tmp_path: Path, tree: Path) -> None:
    async with app_client(tmp_path / "data", tmp_path / "cache") as client:
        await client.push_directory(tree, "acme/ci/report@1.0", kind="report", labels={"a": "1"})
        await client.push_directory(tree, "acme/ci/logs@7", kind="log")
        await client.push_directory(tree, "other/x@1", kind="log")
        page = await client.list_packages(prefix="acme")
        assert [p.ref for p in page.items] == ["acme/ci/logs@7", "acme/ci/report@1.0"]
        assert [p.ref for p in (await client.list_packages(kind="log", limit=1)).items] == [
            "other/x@1"
        ]
        labelled = await client.list_packages(labels={"a": "1"})
        assert [p.name for p in labelled.items] == ["report"]
        versions = await client.list_versions("acme/ci", "report")
        assert [p.version for p in versions.items] == ["1.0"]


async def test_files_stream_and_errors_are_library_classes(tmp_path: Path, tree: Path) -> None:
    async with app_client(tmp_path / "data", tmp_path / "cache") as client:
        await client.push_directory(tree, "acme/ci/report@1.0")
        entry, chunks = await client.open_file("acme/ci/report@1.0", "README.md")
        assert entry.size == 9
        assert b"".join([c async for c in chunks]) == b"# report\n"
        with pytest.raises(FileNotInPackageError):
            await client.open_file("acme/ci/report@1.0", "nope.txt")
        with pytest.raises(PackageNotFoundError):
            await client.resolve("acme/ci/report@9")
        with pytest.raises(InvalidRefError):
            await client.resolve("../../etc")
        with pytest.raises(BlobNotFoundError):
            await client.stat_blob("sha256:" + "0" * 64)
        (tmp_path / "busy").mkdir()
        (tmp_path / "busy" / "x").write_text("x")
        with pytest.raises(InvalidInputError):
            await client.pull("acme/ci/report@1.0", tmp_path / "busy")


async def test_commit_names_missing_blobs(tmp_path: Path) -> None:
    manifest = Manifest(
        namespace="acme/ci",
        name="report",
        version="1.0",
        kind="report",
        created="2025-01-01T00:00:00Z",
        producer=Producer(name="t"),
        files=(
            FileEntry(
                path="a.txt", size=1, sha256="1" * 64, blake3="2" * 64, media_type="text/plain"
            ),
        ),
    )
    async with app_client(tmp_path / "data", tmp_path / "cache") as client:
        with pytest.raises(MissingBlobsError) as caught:
            await client.commit_manifest(manifest)
        assert caught.value.extra["missing"] == ["sha256:" + "1" * 64]


async def test_events_iterate_and_follow_without_loss_or_repeat(tmp_path: Path, tree: Path) -> None:
    async with app_client(tmp_path / "data", tmp_path / "cache") as client:
        await client.push_directory(tree, "acme/ci/report@1.0")
        seen = [e async for e in client.events(after=0, batch=2)]
        assert [e.seq for e in seen] == list(range(1, len(seen) + 1))
        assert "package.committed" in {e.type for e in seen}
        head = seen[-1].seq

        async def follow(n: int) -> list[int]:
            got: list[int] = []
            async for event in client.events(after=head, follow=True, wait=1.0):
                got.append(event.seq)
                if len(got) == n:
                    return got
            return got

        task = asyncio.create_task(follow(3))
        await asyncio.sleep(0.1)
        await client.set_tag("acme/ci/report@1.0", "a")
        await client.set_tag("acme/ci/report@1.0", "b")
        await client.remove_tag("acme/ci", "report", "a")
        assert await asyncio.wait_for(task, 20) == [head + 1, head + 2, head + 3]
        committed = next(e for e in seen if e.type == "package.committed")
        assert committed.payload["digest"] == (await client.resolve("acme/ci/report@1.0")).digest
        assert committed.to_json()["seq"] == committed.seq
