"""artifact-store: a generic artifact registry and storage gateway.

The public library API: open a store with :func:`open_store` and a :class:`StoreConfig`, then
call :class:`ArtifactStore` methods. Errors are the classes of :mod:`artifact_store.errors`.
"""

from artifact_store.config import StoreConfig
from artifact_store.errors import ArtifactStoreError
from artifact_store.kernels.clock import Clock, FixedClock, SystemClock
from artifact_store.kernels.digest import Digest, DigestPair
from artifact_store.kernels.names import PackageName, PackageRef
from artifact_store.kernels.ranges import ByteRange
from artifact_store.kernels.ring import ByteSource
from artifact_store.manifest import FileEntry, Link, Manifest, Producer
from artifact_store.store import (
    ArtifactStore,
    BlobRecord,
    CommitResult,
    PackageInfo,
    PackageQuery,
    Page,
    RebuildReport,
    TagInfo,
    VerifyProblem,
    VerifyReport,
    open_store,
)

__all__ = [
    "ArtifactStore",
    "ArtifactStoreError",
    "BlobRecord",
    "ByteRange",
    "ByteSource",
    "Clock",
    "CommitResult",
    "Digest",
    "DigestPair",
    "FileEntry",
    "FixedClock",
    "Link",
    "Manifest",
    "PackageInfo",
    "PackageName",
    "PackageQuery",
    "PackageRef",
    "Page",
    "Producer",
    "RebuildReport",
    "StoreConfig",
    "SystemClock",
    "TagInfo",
    "VerifyProblem",
    "VerifyReport",
    "open_store",
]

__version__ = "0.4.0"
