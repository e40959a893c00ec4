"""The curated public surface (httpx's exported-members test)."""

import types

import artifact_store


def test_all_is_sorted_and_complete() -> None:
    exported = artifact_store.__all__
    assert exported == sorted(exported)
    public = {
        name
        for name, value in vars(artifact_store).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(exported) == public


def test_every_export_is_documented() -> None:
    for name in artifact_store.__all__:
        assert getattr(artifact_store, name).__doc__, name
