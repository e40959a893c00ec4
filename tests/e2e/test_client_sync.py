"""The blocking SDK (``Client``) against a real server process on a loopback port."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import make_tree
from tests.e2e.test_client_support import ServerProcess, tree_files, write_random

from artifact_store.client import (
    Client,
    FileNotInPackageError,
    PackageNotFoundError,
    RetryPolicy,
    TagNotFoundError,
    UnavailableError,
    VersionConflictError,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("sync")
    served = ServerProcess(data=root / "data", log=root / "server.log")
    served.start()
    yield served
    served.stop()


@pytest.fixture
def client(server: ServerProcess, tmp_path: Path) -> Iterator[Client]:
    with Client(server.url, cache_dir=tmp_path / "cache") as sync:
        yield sync


class DropPatch(httpx.BaseTransport):
    """The real transport, but chosen PATCH requests fail before they are sent."""

    def __init__(self, fail: set[int]) -> None:
        self.inner = httpx.HTTPTransport()
        self.fail = fail
        self.patches = 0
        self.patched = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            self.patches += 1
            if self.patches in self.fail:
                raise httpx.ReadError("connection dropped (test)", request=request)
            self.patched += int(request.headers["Content-Length"])
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_push_pull_round_trip(client: Client, tree: Path, tmp_path: Path) -> None:
    result = client.push_directory(tree, "sync/ci/report@1.0", kind="report", tags=["latest"])
    assert result.created is True
    assert client.push_directory(tree, "sync/ci/report@1.0", kind="report").created is False
    info = client.pull("sync/ci/report:latest", tmp_path / "out")
    assert info.digest == result.package.digest
    assert tree_files(tmp_path / "out") == tree_files(tree)
    assert os.access(tmp_path / "out" / "bin" / "run.sh", os.X_OK)
    entry, chunks = client.open_file("sync/ci/report@1.0", "README.md")
    assert b"".join(chunks) == b"# report\n" == (tree / entry.path).read_bytes()
    make_tree(tree, {"more.txt": b"more"})
    with pytest.raises(VersionConflictError):
        client.push_directory(tree, "sync/ci/report@1.0", kind="report")


def test_tags_events_and_errors(client: Client, tree: Path) -> None:
    pushed = client.push_directory(tree, "syncev/ci/report@1.0").package
    client.set_tag("syncev/ci/report@1.0", "stable")
    assert [t.tag for t in client.list_tags("syncev/ci", "report")] == ["stable"]
    client.remove_tag("syncev/ci", "report", "stable")
    with pytest.raises(TagNotFoundError):
        client.remove_tag("syncev/ci", "report", "stable")
    with pytest.raises(PackageNotFoundError):
        client.resolve("syncev/ci/report@2")
    with pytest.raises(FileNotInPackageError):
        client.open_file("syncev/ci/report@1.0", "missing.txt")
    events = list(client.events(after=0, batch=7))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[-1].type == "tag.removed"
    committed = [e for e in events if e.type == "package.committed"]
    assert committed[-1].payload["digest"] == pushed.digest
    followed = client.events(after=events[-2].seq, follow=True, wait=1.0)
    assert next(followed).seq == events[-1].seq


def test_upload_resumes_in_a_new_client_after_a_failure(
    server: ServerProcess, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    write_random(big, 3 << 20)
    chunk = 256 << 10
    failing = DropPatch(fail={7})
    with (
        Client(
            server.url,
            transport=failing,
            cache_dir=tmp_path / "cache",
            retry=RetryPolicy(attempts=1),
        ) as first,
        pytest.raises(UnavailableError),
    ):
        first.upload_file(big, chunk_size=chunk)
    assert failing.patched == 6 * chunk
    counting = DropPatch(fail=set())
    with Client(server.url, transport=counting, cache_dir=tmp_path / "cache") as second:
        info = second.upload_file(big, chunk_size=chunk)
        assert b"".join(second.open_blob(info.digest)) == big.read_bytes()
    assert counting.patched == (3 << 20) - 6 * chunk
