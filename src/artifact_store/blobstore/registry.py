"""Choose a ``BlobStore`` implementation from a URL (dvc's scheme table, imported lazily).

Each scheme names a ``"module:Class"`` string; the module is imported only when a URL asks for
it, so a backend's dependencies are only needed where it is used, and nothing registers itself
at import time. The class provides ``from_url(url) -> Self`` and parses its own URL form.

To add a backend (the S3 issue will add ``s3``): write ``blobstore/<name>.py`` with a class that
satisfies ``BlobStore`` and has ``from_url``, add one line to ``BACKENDS``, and add its factory
to the ``tests/contract/test_blobstore.py`` matrix.
"""

from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import Final, Protocol, cast
from urllib.parse import urlsplit

from artifact_store.blobstore.base import BlobStore
from artifact_store.errors import InvalidInputError

__all__ = ["BACKENDS", "known_schemes", "open_blobstore"]

#: URL scheme → ``"module:Class"`` of the backend.
BACKENDS: Final = MappingProxyType(
    {
        "file": "artifact_store.blobstore.local:LocalBlobStore",
        "memory": "artifact_store.blobstore.memory:MemoryBlobStore",
    }
)


class _FromUrl(Protocol):
    def from_url(self, url: str) -> BlobStore: ...


def known_schemes() -> list[str]:
    """The schemes :func:`open_blobstore` accepts, sorted."""
    return sorted(BACKENDS)


def _scheme_of(url: str) -> str:
    if "://" in url or url.startswith(("file:", "memory:")):
        return urlsplit(url).scheme.lower()
    return "file"  # a plain filesystem path


def open_blobstore(url: str) -> BlobStore:
    """The backend for ``url``: ``file:///abs/dir`` or a plain path, or ``memory://``.

    Raises:
        InvalidInputError: an empty URL, an unknown scheme (the message lists the known ones),
            a malformed URL for its scheme, or a backend whose module cannot be imported (the
            message names the module, so the missing dependency is obvious).
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidInputError("a blob store URL is required", url=str(url))
    scheme = _scheme_of(url)
    target = BACKENDS.get(scheme)
    if target is None:
        known = ", ".join(known_schemes())
        raise InvalidInputError(
            f"unknown blob store scheme {scheme!r} (known: {known})",
            url=url,
            scheme=scheme,
            known=known_schemes(),
        )
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInputError(
            f"the {scheme!r} blob store needs {module_name}, which cannot be imported ({exc});"
            " install the missing dependency",
            url=url,
            scheme=scheme,
            module=module_name,
        ) from exc
    backend = cast("_FromUrl", getattr(module, class_name))
    return backend.from_url(url)
