"""Every error class: a unique stable code, a title, an HTTP status and a CLI exit code."""

import pytest

from artifact_store.cli.output import exit_code
from artifact_store.errors import ArtifactStoreError, all_error_classes
from artifact_store.server.problems import STATUS

CLASSES = all_error_classes()


def test_codes_are_unique_snake_case() -> None:
    codes = [cls.code for cls in CLASSES]
    assert len(codes) == len(set(codes))
    assert all(code.replace("_", "").isalnum() and code.islower() for code in codes)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_each_class_maps_everywhere(cls: type[ArtifactStoreError]) -> None:
    status = next(STATUS[c] for c in cls.__mro__ if c in STATUS)
    assert 400 <= status <= 599
    if cls is not ArtifactStoreError and status == 500:
        assert cls.code == "blob_corrupt"  # a corrupt stored blob is the server's fault
    assert exit_code(cls("boom")) in range(1, 9)
    assert cls.__doc__
    assert cls.title
    error = cls("message", field="value")
    assert str(error) == "message"
    assert error.extra == {"field": "value"}


def test_the_sdk_exports_every_error_class() -> None:
    import artifact_store.client as sdk

    for cls in CLASSES:
        assert getattr(sdk, cls.__name__) is cls
        assert cls.__name__ in sdk.__all__
