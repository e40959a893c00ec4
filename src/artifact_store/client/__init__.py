"""The Python SDK of artifact-store: ``Client`` (blocking) and ``AsyncClient`` (asyncio) over
the /v1 HTTP API (``docs/api/v1.md``).

Both raise the library's own error classes (re-exported here), mapped from each problem's
``code``: ``except PackageNotFoundError`` reads the same against a local ``ArtifactStore``
and a remote server. A server that stays unreachable through the retries raises
``UnavailableError``.

::

    from artifact_store.client import Client

    with Client("http://127.0.0.1:8080") as client:
        result = client.push_directory(Path("out"), "acme/ci/report@1.0", kind="report")
        client.pull("acme/ci/report@1.0", Path("copy"))
        for event in client.events(after=0):
            print(event.seq, event.type)
"""

from artifact_store import errors as _errors
from artifact_store.client._models import (
    BlobInfo,
    BlobStat,
    CommitResult,
    Event,
    PackageInfo,
    Page,
    TagInfo,
    UploadStatus,
)
from artifact_store.client._transport import RetryPolicy
from artifact_store.client.aio import AsyncClient
from artifact_store.client.sync import Client
from artifact_store.errors import *  # noqa: F403 - the SDK raises exactly the library's errors

__all__ = [
    "AsyncClient",
    "BlobInfo",
    "BlobStat",
    "Client",
    "CommitResult",
    "Event",
    "PackageInfo",
    "Page",
    "RetryPolicy",
    "TagInfo",
    "UploadStatus",
]
__all__ += _errors.__all__  # every error class, exactly as the library defines them
