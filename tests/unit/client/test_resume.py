"""The remembered upload sessions: one atomic file per (server, blob), only ever a hint."""

from __future__ import annotations

from pathlib import Path

from artifact_store.client._resume import ResumeStore, default_cache_dir

SHA = "b" * 64
BASE = "http://127.0.0.1:8080"


def test_save_load_forget(tmp_path: Path) -> None:
    store = ResumeStore(tmp_path)
    assert store.load(BASE, SHA, 100) is None
    store.save(BASE, SHA, 100, "/v1/uploads/u1")
    assert store.load(BASE, SHA, 100) == "/v1/uploads/u1"
    assert store.load(BASE + "/", SHA, 100) == "/v1/uploads/u1"  # one server, one key
    store.forget(BASE, SHA)
    assert store.load(BASE, SHA, 100) is None
    store.forget(BASE, SHA)  # idempotent


def test_sessions_are_per_server_and_per_blob(tmp_path: Path) -> None:
    store = ResumeStore(tmp_path)
    store.save(BASE, SHA, 100, "/v1/uploads/a")
    store.save("http://other:1", SHA, 100, "/v1/uploads/b")
    store.save(BASE, "c" * 64, 100, "/v1/uploads/c")
    assert store.load(BASE, SHA, 100) == "/v1/uploads/a"
    assert store.load("http://other:1", SHA, 100) == "/v1/uploads/b"
    assert store.path(BASE, SHA).parent == store.path(BASE, "c" * 64).parent
    assert store.path(BASE, SHA).is_relative_to(tmp_path / "uploads")


def test_overwrite_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = ResumeStore(tmp_path)
    store.save(BASE, SHA, 100, "/v1/uploads/a")
    store.save(BASE, SHA, 100, "/v1/uploads/b")
    assert store.load(BASE, SHA, 100) == "/v1/uploads/b"
    assert [p.name for p in store.path(BASE, SHA).parent.iterdir()] == [f"{SHA}.json"]


def test_a_mismatched_or_damaged_file_is_ignored(tmp_path: Path) -> None:
    store = ResumeStore(tmp_path)
    store.save(BASE, SHA, 100, "/v1/uploads/a")
    assert store.load(BASE, SHA, 101) is None  # another size: not this upload
    store.path(BASE, SHA).write_text("{not json")
    assert store.load(BASE, SHA, 100) is None
    store.path(BASE, SHA).write_text('["a list"]')
    assert store.load(BASE, SHA, 100) is None


def test_an_unwritable_cache_costs_only_resumability(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = ResumeStore(blocker)  # a file where the directory should be
    store.save(BASE, SHA, 100, "/v1/uploads/a")
    assert store.load(BASE, SHA, 100) is None


def test_default_cache_dir_precedence() -> None:
    assert default_cache_dir({"ARTIFACT_STORE_CACHE": "/c", "XDG_CACHE_HOME": "/x"}) == Path("/c")
    assert default_cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/artifact-store")
    assert default_cache_dir({}) == Path.home() / ".cache" / "artifact-store"
