"""The one exception tree of artifact-store; every layer raises these and only these.

Each class carries a stable snake_case ``code`` (never reused, never renamed) and a short
``title``. The message is the human detail; structured fields (the digest, the limit, the
expected and actual values) go in ``extra`` and become problem+json members over HTTP and
``--json`` fields in the CLI. Front ends map classes to their own vocabulary (HTTP status, OCI
code, exit code) in one table each, walking ``type(exc).__mro__`` so the most specific entry wins.

This module is the leaf of the import graph: it imports nothing of ours.

::

    ArtifactStoreError                         internal
    ├── InvalidInputError (ValueError)         invalid_input
    │   ├── InvalidNameError                   name_invalid
    │   ├── InvalidDigestError                 digest_invalid
    │   ├── InvalidPathError                   path_invalid
    │   ├── InvalidRefError                    ref_invalid
    │   ├── InvalidRangeError                  range_invalid
    │   ├── InvalidLabelError                  label_invalid
    │   ├── ManifestInvalidError               manifest_invalid
    │   ├── EncodingError                      encoding_invalid
    │   │   └── NonCanonicalError              encoding_noncanonical
    │   ├── UnsupportedFileError               file_unsupported
    │   ├── MethodNotAllowedError              method_not_allowed
    │   └── LimitExceededError                 limit_exceeded
    │       └── PayloadTooLargeError           payload_too_large
    ├── NotFoundError (LookupError)            not_found
    │   ├── BlobNotFoundError                  blob_not_found
    │   ├── PackageNotFoundError               package_not_found
    │   ├── FileNotInPackageError              file_not_found
    │   ├── TagNotFoundError                   tag_not_found
    │   ├── NamespaceNotFoundError             namespace_not_found
    │   ├── UploadNotFoundError                upload_not_found
    │   │   └── UploadExpiredError             upload_expired
    │   └── EventNotFoundError                 event_not_found
    ├── ConflictError                          conflict
    │   ├── VersionConflictError               version_conflict
    │   ├── MissingBlobsError                  blobs_missing
    │   ├── UploadOffsetError                  upload_offset_mismatch
    │   ├── UploadStateError                   upload_state
    │   └── StoreNotInitializedError           store_not_initialized
    ├── PolicyError                            policy
    │   ├── HeldError                          package_held
    │   ├── LockedError                        package_locked
    │   └── RetentionError                     retention
    ├── VerificationError                      verification_failed
    │   ├── DigestMismatchError                digest_mismatch
    │   ├── SizeMismatchError                  size_mismatch
    │   ├── ChecksumMismatchError              checksum_mismatch
    │   ├── BlobCorruptError                   blob_corrupt
    │   ├── ChainBrokenError                   chain_broken
    │   └── ProofError                         proof_invalid
    ├── AuthError                              auth
    │   ├── UnauthenticatedError               unauthenticated
    │   └── ForbiddenError (PermissionError)   forbidden
    └── UnavailableError                       unavailable
        ├── StorageUnavailableError            storage_unavailable
        └── DatabaseUnavailableError           database_unavailable
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ArtifactStoreError",
    "AuthError",
    "BlobCorruptError",
    "BlobNotFoundError",
    "ChainBrokenError",
    "ChecksumMismatchError",
    "ConflictError",
    "DatabaseUnavailableError",
    "DigestMismatchError",
    "EncodingError",
    "EventNotFoundError",
    "FileNotInPackageError",
    "ForbiddenError",
    "HeldError",
    "InvalidDigestError",
    "InvalidInputError",
    "InvalidLabelError",
    "InvalidNameError",
    "InvalidPathError",
    "InvalidRangeError",
    "InvalidRefError",
    "LimitExceededError",
    "LockedError",
    "ManifestInvalidError",
    "MethodNotAllowedError",
    "MissingBlobsError",
    "NamespaceNotFoundError",
    "NonCanonicalError",
    "NotFoundError",
    "PackageNotFoundError",
    "PayloadTooLargeError",
    "PolicyError",
    "ProofError",
    "RetentionError",
    "SizeMismatchError",
    "StorageUnavailableError",
    "StoreNotInitializedError",
    "TagNotFoundError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnsupportedFileError",
    "UploadExpiredError",
    "UploadNotFoundError",
    "UploadOffsetError",
    "UploadStateError",
    "VerificationError",
    "VersionConflictError",
    "all_error_classes",
]


class ArtifactStoreError(Exception):
    """Base of every error the library raises; ``code`` is stable forever."""

    code: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"

    def __init__(self, message: str = "", **extra: Any) -> None:  # noqa: ANN401
        super().__init__(message or self.title)
        self.message = message or self.title
        self.extra: dict[str, Any] = extra

    def __str__(self) -> str:
        return self.message


# --- bad input ---------------------------------------------------------------------------


class InvalidInputError(ArtifactStoreError, ValueError):
    """The caller sent something that can never be valid."""

    code = "invalid_input"
    title = "Invalid input"


class InvalidNameError(InvalidInputError):
    """A namespace, package name, version or tag breaks its grammar."""

    code = "name_invalid"
    title = "Invalid name"


class InvalidDigestError(InvalidInputError):
    """A digest string is not ``sha256:<64 lower-case hex>`` or ``blake3:<64 lower-case hex>``."""

    code = "digest_invalid"
    title = "Invalid digest"


class InvalidPathError(InvalidInputError):
    """A file path inside a package breaks the path rules (relative POSIX, NFC, no ``..``)."""

    code = "path_invalid"
    title = "Invalid file path"


class InvalidRefError(InvalidInputError):
    """A reference is none of ``ns/name@version``, ``ns/name:tag`` or ``sha256:<hex>``."""

    code = "ref_invalid"
    title = "Invalid reference"


class InvalidRangeError(InvalidInputError):
    """A byte range is malformed or cannot be satisfied."""

    code = "range_invalid"
    title = "Invalid byte range"


class InvalidLabelError(InvalidInputError):
    """A label key or value breaks the label rules."""

    code = "label_invalid"
    title = "Invalid label"


class ManifestInvalidError(InvalidInputError):
    """A manifest is structurally wrong (missing field, wrong type, unsorted files, ...)."""

    code = "manifest_invalid"
    title = "Invalid manifest"


class EncodingError(InvalidInputError):
    """Bytes are not well-formed CBOR (or JSON) of the allowed types."""

    code = "encoding_invalid"
    title = "Malformed encoding"


class NonCanonicalError(EncodingError):
    """Well-formed CBOR that is not in RFC 8949 §4.2.1 core deterministic encoding."""

    code = "encoding_noncanonical"
    title = "Non-canonical encoding"


class UnsupportedFileError(InvalidInputError):
    """A directory walk met a symlink or a special file it was not told to accept."""

    code = "file_unsupported"
    title = "Unsupported file type"


class MethodNotAllowedError(InvalidInputError):
    """The resource exists but does not support this HTTP method."""

    code = "method_not_allowed"
    title = "Method not allowed"


class LimitExceededError(InvalidInputError):
    """A named limit (``extra['limit']``) was exceeded."""

    code = "limit_exceeded"
    title = "Limit exceeded"


class PayloadTooLargeError(LimitExceededError):
    """A body or blob is larger than the configured maximum."""

    code = "payload_too_large"
    title = "Payload too large"


# --- not found ---------------------------------------------------------------------------


class NotFoundError(ArtifactStoreError, LookupError):
    """The thing asked for does not exist."""

    code = "not_found"
    title = "Not found"


class BlobNotFoundError(NotFoundError):
    """No stored blob has this digest."""

    code = "blob_not_found"
    title = "Blob not found"


class PackageNotFoundError(NotFoundError):
    """No committed package matches the reference."""

    code = "package_not_found"
    title = "Package not found"


class FileNotInPackageError(NotFoundError):
    """The package has no file at this path."""

    code = "file_not_found"
    title = "File not in package"


class TagNotFoundError(NotFoundError):
    """The package name has no such tag."""

    code = "tag_not_found"
    title = "Tag not found"


class NamespaceNotFoundError(NotFoundError):
    """The namespace does not exist."""

    code = "namespace_not_found"
    title = "Namespace not found"


class UploadNotFoundError(NotFoundError):
    """The upload session does not exist (or expired and was removed)."""

    code = "upload_not_found"
    title = "Upload session not found"


class UploadExpiredError(UploadNotFoundError):
    """The upload session expired (idle too long); its bytes are or will be removed."""

    code = "upload_expired"
    title = "Upload session expired"


class EventNotFoundError(NotFoundError):
    """No event has this sequence number."""

    code = "event_not_found"
    title = "Event not found"


# --- conflicts ---------------------------------------------------------------------------


class ConflictError(ArtifactStoreError):
    """The request is valid but clashes with the current state."""

    code = "conflict"
    title = "Conflict"


class VersionConflictError(ConflictError):
    """A different manifest is already committed at this version (versions are immutable)."""

    code = "version_conflict"
    title = "Version already exists with different content"


class MissingBlobsError(ConflictError):
    """A manifest names blobs the store does not hold (``extra['missing']`` lists them)."""

    code = "blobs_missing"
    title = "Manifest references missing blobs"


class UploadOffsetError(ConflictError):
    """A chunk was sent at an offset other than the session's durable offset."""

    code = "upload_offset_mismatch"
    title = "Upload offset mismatch"


class UploadStateError(ConflictError):
    """The upload session is not in a state that allows this operation."""

    code = "upload_state"
    title = "Upload session state"


class StoreNotInitializedError(ConflictError):
    """The data directory or database has not been initialised (run ``artifact-store init``)."""

    code = "store_not_initialized"
    title = "Store not initialised"


# --- policy ------------------------------------------------------------------------------


class PolicyError(ArtifactStoreError):
    """A retention rule, hold or lock forbids the operation."""

    code = "policy"
    title = "Forbidden by policy"


class HeldError(PolicyError):
    """The package is under a legal hold."""

    code = "package_held"
    title = "Package under legal hold"


class LockedError(PolicyError):
    """The package is retention-locked until ``extra['locked_until']``."""

    code = "package_locked"
    title = "Package retention-locked"


class RetentionError(PolicyError):
    """A retention policy forbids the operation."""

    code = "retention"
    title = "Forbidden by retention policy"


# --- verification ------------------------------------------------------------------------


class VerificationError(ArtifactStoreError):
    """Bytes or history do not match what was claimed or recorded."""

    code = "verification_failed"
    title = "Verification failed"


class DigestMismatchError(VerificationError):
    """The bytes hash to something other than the expected digest."""

    code = "digest_mismatch"
    title = "Digest mismatch"


class SizeMismatchError(VerificationError):
    """The bytes are not the expected length."""

    code = "size_mismatch"
    title = "Size mismatch"


class ChecksumMismatchError(VerificationError):
    """A chunk's ``Upload-Checksum`` does not match its bytes; the chunk was discarded."""

    code = "checksum_mismatch"
    title = "Chunk checksum mismatch"


class BlobCorruptError(VerificationError):
    """A stored blob no longer matches its digests (or is missing from the data plane)."""

    code = "blob_corrupt"
    title = "Stored blob is corrupt"


class ChainBrokenError(VerificationError):
    """The event hash chain is broken at ``extra['seq']``."""

    code = "chain_broken"
    title = "Event chain broken"


class ProofError(VerificationError):
    """A Merkle inclusion or consistency proof does not verify."""

    code = "proof_invalid"
    title = "Proof does not verify"


# --- auth --------------------------------------------------------------------------------


class AuthError(ArtifactStoreError):
    """Authentication or authorisation failed."""

    code = "auth"
    title = "Authentication or authorisation failed"


class UnauthenticatedError(AuthError):
    """No valid credentials were presented."""

    code = "unauthenticated"
    title = "Unauthenticated"


class ForbiddenError(AuthError, PermissionError):
    """The principal may not do this."""

    code = "forbidden"
    title = "Forbidden"


# --- unavailable -------------------------------------------------------------------------


class UnavailableError(ArtifactStoreError):
    """A dependency is down or overloaded; the request may be retried."""

    code = "unavailable"
    title = "Service unavailable"


class StorageUnavailableError(UnavailableError):
    """The blob store failed (I/O error, full disk, failed fsync, unreachable S3)."""

    code = "storage_unavailable"
    title = "Blob storage unavailable"


class DatabaseUnavailableError(UnavailableError):
    """The database is unreachable, locked for too long, or failed mid-transaction."""

    code = "database_unavailable"
    title = "Database unavailable"


def all_error_classes() -> list[type[ArtifactStoreError]]:
    """Every class of the tree, base first, in definition order (for catalogues and tests)."""
    found: list[type[ArtifactStoreError]] = []
    pending: list[type[ArtifactStoreError]] = [ArtifactStoreError]
    while pending:
        cls = pending.pop(0)
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found
