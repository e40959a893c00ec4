"""The CLI as a user drives it: push, pull, show, ls, cat, tag, events, verify, exit codes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import blake3
import pytest
from tests.conftest import make_tree
from typer.testing import CliRunner

from artifact_store.cli.main import app

pytestmark = pytest.mark.e2e


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    data = tmp_path / "store"

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["--data", str(data), *args], catch_exceptions=False)
        assert result.exit_code == code, (args, result.exit_code, result.output)
        return result.stdout

    run("init")
    return run


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _b3(path: Path) -> str:
    if shutil.which("b3sum"):
        out = subprocess.run(
            ["b3sum", "--no-names", str(path)], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    return blake3.blake3(path.read_bytes()).hexdigest()


def _sha(path: Path) -> str:
    out = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True)
    return out.stdout.split()[0]


def test_push_pull_round_trip_and_digests(cli, tree: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pushed = json.loads(
        cli(
            "push",
            str(tree),
            "acme/ci/report@1.0",
            "--kind",
            "report",
            "--label",
            "git.commit=abc",
            "--tag",
            "latest",
            "--json",
        )
    )
    assert pushed["created"] is True
    digest = pushed["package"]["digest"]

    shown = json.loads(cli("show", "acme/ci/report:latest", "--json"))
    assert shown["package"]["digest"] == digest
    assert shown["package"]["labels"] == {"git.commit": "abc"}
    for entry in shown["manifest"]["files"]:
        source = tree / entry["path"]
        assert entry["sha256"] == _sha(source)
        assert entry["blake3"] == _b3(source)
        assert entry["size"] == source.stat().st_size
    assert any(f.get("executable") for f in shown["manifest"]["files"])

    out = tmp_path / "elsewhere" / "out"
    cli("pull", "acme/ci/report@1.0", str(out))
    assert _files(out) == _files(tree)
    assert os.access(out / "bin" / "run.sh", os.X_OK)
    assert cli("cat", "acme/ci/report@1.0", "README.md") == "# report\n"


def test_repush_is_a_no_op_and_conflict_changes_nothing(cli, tree: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("push", str(tree), "acme/ci/report@1.0")
    blobs = sorted((tmp_path / "store" / "blobs").rglob("*"))
    events_before = cli("events", "--json")
    again = json.loads(cli("push", str(tree), "acme/ci/report@1.0", "--json"))
    assert again["created"] is False
    assert sorted((tmp_path / "store" / "blobs").rglob("*")) == blobs
    make_tree(tree, {"new.txt": b"changed"})
    runner = CliRunner()
    result = runner.invoke(
        app, ["--data", str(tmp_path / "store"), "push", str(tree), "acme/ci/report@1.0"]
    )
    assert result.exit_code == 5
    assert "already exists with different content" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert cli("events", "--json") == events_before
    assert sorted((tmp_path / "store" / "blobs").rglob("*")) == blobs


def test_ls_tag_untag_events(cli, tree: Path) -> None:  # type: ignore[no-untyped-def]
    cli("push", str(tree), "acme/ci/report@1.0", "--kind", "report")
    cli("push", str(tree), "acme/ci/logs@7", "--kind", "log")
    listed = json.loads(cli("ls", "acme/ci", "--json"))
    assert [p["version"] for p in listed["items"]] == ["7", "1.0"]
    assert [p["name"] for p in json.loads(cli("ls", "--kind", "log", "--json"))["items"]] == [
        "logs"
    ]
    cli("tag", "acme/ci/report@1.0", "stable")
    assert json.loads(cli("show", "acme/ci/report:stable", "--json"))["package"]["version"] == "1.0"
    cli("untag", "acme/ci/report:stable")
    cli("show", "acme/ci/report:stable", code=4)
    lines = cli("events", "--json").splitlines()
    types = [json.loads(line)["type"] for line in lines]
    assert types[-2:] == ["tag.set", "tag.removed"]
    assert [json.loads(line)["seq"] for line in lines] == list(range(1, len(lines) + 1))
    assert "tag.removed" in cli("events", "--after", str(len(lines) - 1))


def test_bad_input_gets_one_line_and_an_exit_code(cli, tree: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    data = ["--data", str(tmp_path / "store")]
    cases = [
        (["show", "sha256:ABC"], 3),
        (["show", "acme/ci/report"], 3),
        (["show", "acme/ci/report@9"], 4),
        (["push", str(tree), "Bad/Name@1"], 3),
        (["push", str(tree), "acme/ci/report:latest"], 3),
        (["push", str(tmp_path / "nope"), "acme/ci/report@1"], 3),
        (["cat", "acme/ci/report@9", "x"], 4),
        (["ls", "--since", "yesterday"], 3),
        (["push", str(tree), "acme/ci/report@1", "--label", "novalue"], 3),
    ]
    for args, code in cases:
        result = runner.invoke(app, [*data, *args])
        assert result.exit_code == code, (args, result.output)
        assert result.stderr.startswith("error: "), (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.output
    result = runner.invoke(app, [*data, "show", "acme/ci/report@9", "--json"])
    assert json.loads(result.stdout)["error"] == "package_not_found"


def test_uninitialised_store_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--data", str(tmp_path / "none"), "ls"])
    assert result.exit_code == 5
    assert "artifact-store init" in result.stderr


def test_verify_and_rebuild(cli, tree: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("push", str(tree), "acme/ci/report@1.0")
    assert json.loads(cli("verify", "--deep", "--json"))["ok"] is True
    sha = hashlib.sha256((tree / "README.md").read_bytes()).hexdigest()
    blob = tmp_path / "store" / "blobs" / "sha256" / sha[:2] / sha[2:4] / sha
    blob.chmod(0o644)
    blob.write_bytes(b"# rEport\n")
    report = json.loads(cli("verify", "--deep", "--json", code=6))
    assert report["problems"][0]["packages"] == ["acme/ci/report@1.0"]
    assert json.loads(cli("rebuild-views", "--json"))["events"] > 0


def test_installed_script_runs(tmp_path: Path, tree: Path) -> None:
    """One real subprocess through ``python -m artifact_store`` (the console script's code)."""
    data = tmp_path / "d"
    base = [sys.executable, "-m", "artifact_store", "--data", str(data)]
    subprocess.run([*base, "init"], check=True, capture_output=True)
    done = subprocess.run(
        [*base, "push", str(tree), "a/b@1", "--json"], check=True, capture_output=True
    )
    assert json.loads(done.stdout)["created"] is True
    bad = subprocess.run([*base, "show", "a/b@2"], capture_output=True, text=True, check=False)
    assert bad.returncode == 4
    assert bad.stderr.strip() == "error: no package a/b@2"
