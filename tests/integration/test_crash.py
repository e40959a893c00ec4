"""``kill -9`` during a push leaves no package and no partial blob; the next push succeeds.

Blueprint invariant 5: a crash at any point loses no committed data and leaves nothing
half-visible. The push runs in a real subprocess (the installed CLI) and is killed while the
large file is being staged.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.crash, pytest.mark.slow]

BIG = 192 << 20


def _cli(data: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "artifact_store", "--data", str(data), *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=300,
    )


def _start_push(data: Path, tree: Path, ref: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "artifact_store", "--data", str(data), "push", str(tree), ref],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _staged_bytes(data: Path) -> int:
    staging = data / "staging"
    if not staging.is_dir():
        return 0
    return sum(p.stat().st_size for p in staging.iterdir() if p.is_file())


def _assert_blobs_are_whole(data: Path) -> int:
    count = 0
    for path in (data / "blobs").rglob("*"):
        if path.is_file():
            assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name, path
            count += 1
    return count


@pytest.fixture
def big_tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "small.txt").write_bytes(b"small\n")
    chunk = os.urandom(1 << 20)
    with (root / "sub" / "big.bin").open("wb") as handle:
        for _ in range(BIG >> 20):
            handle.write(chunk)
    return root


def test_kill_during_push_leaves_nothing_half_visible(big_tree: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    _cli(data, "init")
    proc = _start_push(data, big_tree, "acme/ci/report@1.0")
    deadline = time.monotonic() + 60
    while _staged_bytes(data) < (16 << 20) and proc.poll() is None:
        assert time.monotonic() < deadline, "the push never started staging"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # 16 MiB of a 192 MiB push leave hundreds of milliseconds: the kill must land mid-push.
    assert proc.returncode == -signal.SIGKILL, "the push finished before it could be killed"

    listed = json.loads(_cli(data, "ls", "--json").stdout)
    assert listed["items"] == []
    _assert_blobs_are_whole(data)
    assert _cli(data, "verify", "--deep").returncode == 0

    pushed = json.loads(_cli(data, "push", str(big_tree), "acme/ci/report@1.0", "--json").stdout)
    assert pushed["created"] is True
    assert _assert_blobs_are_whole(data) >= 3  # two files and the manifest
    report = json.loads(_cli(data, "verify", "--deep", "--json").stdout)
    assert report["ok"] is True
    out = tmp_path / "out"
    _cli(data, "pull", "acme/ci/report@1.0", str(out))
    assert (out / "sub" / "big.bin").stat().st_size == BIG
