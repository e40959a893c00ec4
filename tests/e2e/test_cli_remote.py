"""The CLI in remote mode (``--url``) against a real server process on a loopback port: the same
commands, output and exit codes as local mode, and uploads that survive ``kill -9`` of the
client or of the server (issue #3 acceptance)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import make_tree
from tests.e2e.test_client_support import (
    ServerProcess,
    cli_command,
    free_port,
    tree_files,
    write_random,
)
from typer.testing import CliRunner

from artifact_store.cli.main import app
from artifact_store.client._resume import ResumeStore

pytestmark = pytest.mark.e2e

type Cli = Callable[..., str]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the quick tests of this module (each test uses its own namespace)."""
    root = tmp_path_factory.mktemp("remote")
    served = ServerProcess(data=root / "data", log=root / "server.log")
    served.start()
    yield served
    served.stop()


def _runner(*global_args: str, env: dict[str, str] | None = None) -> Cli:
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, [*global_args, *args], env=env, catch_exceptions=False)
        assert result.exit_code == code, (args, result.exit_code, result.output)
        return result.stdout if code == 0 else result.stderr + result.stdout

    return run


@pytest.fixture
def remote(server: ServerProcess, tmp_path: Path) -> Cli:
    return _runner("--url", server.url, env={"ARTIFACT_STORE_CACHE": str(tmp_path / "cache")})


@pytest.fixture
def local(tmp_path: Path) -> Cli:
    run = _runner("--data", str(tmp_path / "local"))
    run("init")
    return run


def test_push_pull_round_trip_is_byte_identical(remote: Cli, tree: Path, tmp_path: Path) -> None:
    args = ("--kind", "report", "--label", "git.commit=abc", "--json")
    pushed = json.loads(remote("push", str(tree), "rt/ci/report@1.0", "--tag", "latest", *args))
    assert pushed["created"] is True
    assert pushed["package"]["actor"] == "anonymous"
    out = tmp_path / "pulled"
    remote("pull", "rt/ci/report:latest", str(out))
    assert tree_files(out) == tree_files(tree)
    assert os.access(out / "bin" / "run.sh", os.X_OK)
    again = json.loads(remote("push", str(tree), "rt/ci/report@1.0", *args))
    assert again["created"] is False
    assert again["package"]["digest"] == pushed["package"]["digest"]


def test_output_matches_local_mode(remote: Cli, local: Cli, tree: Path) -> None:
    args = ("--kind", "report", "--label", "a=1", "--tag", "latest", "--json")
    there = json.loads(remote("push", str(tree), "same/ci/report@1.0", *args))
    here = json.loads(local("push", str(tree), "same/ci/report@1.0", *args))
    assert there.keys() == here.keys()
    assert there["package"].keys() == here["package"].keys()
    for key in ("namespace", "name", "version", "kind", "labels", "file_count", "total_size"):
        assert there["package"][key] == here["package"][key]
    shown_there = json.loads(remote("show", "same/ci/report:latest", "--json"))
    shown_here = json.loads(local("show", "same/ci/report:latest", "--json"))
    # Same files, digests and metadata; only the creation time differs between the stores.
    for shown in (shown_there, shown_here):
        shown["manifest"].pop("created")
    assert shown_there["manifest"] == shown_here["manifest"]
    text = remote("show", "same/ci/report@1.0")
    assert text.splitlines()[0] == "same/ci/report@1.0"
    assert remote("cat", "same/ci/report@1.0", "README.md") == "# report\n"


def test_ls_tag_untag_events(remote: Cli, tree: Path) -> None:
    remote("push", str(tree), "lst/ci/report@1.0", "--kind", "report")
    remote("push", str(tree), "lst/ci/logs@7", "--kind", "log")
    listed = json.loads(remote("ls", "lst/ci", "--json"))
    assert [p["version"] for p in listed["items"]] == ["7", "1.0"]
    assert "lst/ci/logs@7" in remote("ls", "lst")
    moved = json.loads(remote("tag", "lst/ci/report@1.0", "stable", "--json"))
    assert moved["tag"] == "stable"
    assert "removed lst/ci/report:stable" in remote("untag", "lst/ci/report:stable")
    out = remote("untag", "lst/ci/report:stable", code=4)
    assert "no tag" in out
    lines = remote("events", "--json", "--limit", "1000").splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "tag.removed"
    assert "tag.removed" in remote("events", "--after", str(len(events) - 1))


def test_errors_keep_their_exit_codes(remote: Cli) -> None:
    assert "no package" in remote("show", "nothere/x@1", code=4)
    remote("show", "not a ref", code=3)
    remote("cat", "nothere/x@1", "a.txt", code=4)


@pytest.mark.parametrize("command", [["init"], ["verify"], ["rebuild-views"], ["serve"]])
def test_local_only_commands_say_so(remote: Cli, command: list[str]) -> None:
    out = remote(*command, code=2)
    assert "--url" in out
    assert len(out.strip().splitlines()) == 1


def test_an_unreachable_server_is_exit_8(tmp_path: Path) -> None:
    run = _runner("--url", f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    out = run("ls", code=8)
    assert "cannot reach the server" in out
    assert len(out.strip().splitlines()) == 1
    assert time.monotonic() - started < 30


# --- kill -9 in the middle of a large upload ------------------------------------------------

BIG = 192 << 20


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _push(url: str, tree: Path, ref: str, cache: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cli_command("--url", url, "push", str(tree), ref, "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ | {"ARTIFACT_STORE_CACHE": str(cache)},
    )


def _wait_for_offset(url: str, state: Path, proc: subprocess.Popen[bytes], at_least: int) -> int:
    """Poll the session the client remembered until the server holds ``at_least`` bytes."""
    deadline = time.monotonic() + 120
    with httpx.Client(base_url=url, timeout=5) as http:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the upload finished before it could be interrupted"
            if state.exists():
                location = json.loads(state.read_text())["location"]
                head = http.head(location)
                if head.status_code == 200 and int(head.headers["Upload-Offset"]) >= at_least:
                    return int(head.headers["Upload-Offset"])
            time.sleep(0.005)
    raise AssertionError("the upload never got far enough")


def _server_offset(url: str, state: Path) -> int:
    """The durable offset of the remembered session, as the server reports it."""
    location = json.loads(state.read_text())["location"]
    head = httpx.head(f"{url}{location}", timeout=5)
    assert head.status_code == 200, head
    return int(head.headers["Upload-Offset"])


def _assert_resumed(sent: int, offset: int) -> None:
    """The re-run sent the rest of the blob from the server's offset, plus small requests."""
    assert offset >= BIG * 0.55
    assert BIG - offset <= sent <= BIG - offset + (1 << 20), (sent, offset)
    assert sent < BIG // 2


def _big_tree(tmp_path: Path) -> tuple[Path, str]:
    tree = tmp_path / "big"
    write_random(tree / "blob.bin", BIG)
    make_tree(tree, {"notes.txt": b"a large artifact\n"})
    return tree, _sha256(tree / "blob.bin")


def _check_pulled(url: str, tree: Path, ref: str, dest: Path, cache: Path) -> None:
    done = subprocess.run(
        cli_command("--url", url, "pull", ref, str(dest)),
        capture_output=True,
        env=os.environ | {"ARTIFACT_STORE_CACHE": str(cache)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert _sha256(dest / "blob.bin") == _sha256(tree / "blob.bin")
    assert (dest / "notes.txt").read_bytes() == b"a large artifact\n"


@pytest.mark.slow
def test_killed_client_resumes_from_the_server_offset(tmp_path: Path) -> None:
    served = ServerProcess(data=tmp_path / "data", log=tmp_path / "server.log")
    served.start()
    try:
        tree, sha = _big_tree(tmp_path)
        cache = tmp_path / "cache"
        state = ResumeStore(cache).path(served.url, sha)
        first = _push(served.url, tree, "big/ci/blob@1", cache)
        _wait_for_offset(served.url, state, first, at_least=int(BIG * 0.55))
        first.kill()  # kill -9
        first.wait(10)
        offset = _server_offset(served.url, state)
        before = served.bytes_received()
        second = _push(served.url, tree, "big/ci/blob@1", cache)
        out, err = second.communicate(timeout=300)
        assert second.returncode == 0, err
        _assert_resumed(served.bytes_received() - before, offset)
        assert json.loads(out)["created"] is True
        assert not state.exists()
        _check_pulled(served.url, tree, "big/ci/blob@1", tmp_path / "out", cache)
    finally:
        served.stop()


@pytest.mark.slow
def test_killed_server_restarts_and_the_client_resumes(tmp_path: Path) -> None:
    served = ServerProcess(data=tmp_path / "data", log=tmp_path / "server.log")
    served.start()
    try:
        tree, sha = _big_tree(tmp_path)
        cache = tmp_path / "cache"
        state = ResumeStore(cache).path(served.url, sha)
        first = _push(served.url, tree, "big/ci/blob@1", cache)
        _wait_for_offset(served.url, state, first, at_least=int(BIG * 0.55))
        served.kill()  # kill -9 the server mid-upload
        _, err = first.communicate(timeout=120)
        assert first.returncode == 8, err  # unavailable, after its retries
        served.start()  # same data directory, same port
        offset = _server_offset(served.url, state)
        second = _push(served.url, tree, "big/ci/blob@1", cache)
        out, err = second.communicate(timeout=300)
        assert second.returncode == 0, err
        _assert_resumed(served.bytes_received(), offset)  # a fresh process: all it received
        assert json.loads(out)["created"] is True
        _check_pulled(served.url, tree, "big/ci/blob@1", tmp_path / "out", cache)
    finally:
        served.stop()
