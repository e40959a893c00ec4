"""The package manifest, schema 1: model, validation, canonical CBOR ⇄ JSON codec, builder.

A manifest names one package version (``namespace/name@version``), its metadata and its files
(path → blob, sorted by path). Its canonical CBOR encoding (RFC 8949 §4.2.1) is its identity:
the package digest is ``sha256:`` + sha256 of those bytes (ADR-0003), and each logical manifest
has exactly one encoding (``codec``'s module docstring lists the rules that make it so).

Imports only ``kernels`` and ``errors``; pure except for ``build``, which reads the file system.
"""

from artifact_store.manifest.build import (
    DEFAULT_MEDIA_TYPE,
    ScannedFile,
    build_manifest,
    guess_media_type,
    scan_directory,
)
from artifact_store.manifest.codec import (
    decode_manifest,
    encode_manifest,
    manifest_digest,
    manifest_from_json,
    manifest_from_value,
    manifest_to_json,
    manifest_to_value,
)
from artifact_store.manifest.model import SCHEMA_VERSION, FileEntry, Link, Manifest, Producer
from artifact_store.manifest.validate import (
    validate_kind,
    validate_label_key,
    validate_manifest,
    validate_media_type,
)

__all__ = [
    "DEFAULT_MEDIA_TYPE",
    "FileEntry",
    "Link",
    "Manifest",
    "Producer",
    "SCHEMA_VERSION",
    "ScannedFile",
    "build_manifest",
    "decode_manifest",
    "encode_manifest",
    "guess_media_type",
    "manifest_digest",
    "manifest_from_json",
    "manifest_from_value",
    "manifest_to_json",
    "manifest_to_value",
    "scan_directory",
    "validate_kind",
    "validate_label_key",
    "validate_manifest",
    "validate_media_type",
]
