"""The curated public surface (httpx's exported-members test)."""

import re
import tomllib
import types
from pathlib import Path

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


def test_version_matches_the_project_and_the_newest_api_change() -> None:
    """One version everywhere: pyproject, ``__version__``, the top entry of docs/api-changes.md."""
    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    assert artifact_store.__version__ == project
    entries = re.findall(
        r"^\d{4}-\d{2}-\d{2} - (\S+) - ", (root / "docs/api-changes.md").read_text(), re.M
    )
    assert entries[0] == project
