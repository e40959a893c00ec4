"""Manifest checks beyond the codec's types: grammars, bounds, order, uniqueness, link targets.

``validate_manifest`` is called by every way into and out of the codec, so no invalid manifest
is ever encoded, decoded or digested. Rules (schema 1):

- ``schema`` is 1; ``namespace``, ``name`` and ``version`` follow ``kernels.names``;
- ``kind`` matches ``[a-z0-9][a-z0-9._-]*``; a link ``rel`` follows the same grammar;
- ``created`` is RFC 3339 UTC in its one canonical form, ``kernels.clock.format_time``'s
  (``…Z``, fraction digits only when non-zero and without trailing zeros), so one instant has
  one text and the manifest one digest;
- producer fields and label values are text without control characters; label keys match
  ``[a-z0-9]([a-z0-9._/-]*[a-z0-9])?`` (``git.commit``, ``app.kubernetes.io/name``);
- annotation keys are non-empty text without control characters; annotation values are any
  text (a free-form note may hold newlines);
- files are sorted strictly ascending by path (Python ``str`` order, which is Unicode code-point
  order and therefore UTF-8 byte order), so paths are unique; no path is a directory of another
  (``a`` beside ``a/b`` could not be extracted); each has a valid path (``kernels.paths``), a
  size in ``0..MAX_BLOB_SIZE``, 64-hex ``sha256`` and ``blake3`` and a lower-case
  ``type/subtype`` media type (RFC 6838 restricted names, no parameters);
- ``subject`` and link targets are ``sha256:<hex>`` package digests; links are sorted by
  ``(rel, target)`` and unique: they are a set, and a set needs one order to have one encoding.

Sizes are counted in UTF-8 bytes. Every bound is a ``kernels.limits`` constant checked with
``check_limit`` (``LimitExceededError`` naming the field); a broken grammar raises the specific
class (``InvalidNameError``, ``InvalidLabelError``, ``InvalidPathError``,
``InvalidDigestError``), anything else ``ManifestInvalidError``. Counts are checked before any
per-item work.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from artifact_store.errors import (
    InvalidDigestError,
    InvalidInputError,
    InvalidLabelError,
    ManifestInvalidError,
)
from artifact_store.kernels.clock import format_time, parse_time
from artifact_store.kernels.digest import Digest, is_hex64
from artifact_store.kernels.limits import (
    MAX_ANNOTATION_KEY_BYTES,
    MAX_ANNOTATION_VALUE_BYTES,
    MAX_ANNOTATIONS,
    MAX_BLOB_SIZE,
    MAX_FILES,
    MAX_KIND_BYTES,
    MAX_LABEL_KEY_BYTES,
    MAX_LABEL_VALUE_BYTES,
    MAX_LABELS,
    MAX_LINK_REL_BYTES,
    MAX_LINKS,
    MAX_MEDIA_TYPE_BYTES,
    MAX_PRODUCER_FIELD_BYTES,
    check_limit,
)
from artifact_store.kernels.names import validate_name, validate_namespace, validate_version
from artifact_store.kernels.paths import validate_path
from artifact_store.manifest.model import SCHEMA_VERSION, FileEntry, Link, Manifest, Producer

__all__ = [
    "validate_kind",
    "validate_label_key",
    "validate_manifest",
    "validate_media_type",
]

_TOKEN = re.compile(r"[a-z0-9][a-z0-9._-]*")
_LABEL_KEY = re.compile(r"[a-z0-9](?:[a-z0-9._/-]*[a-z0-9])?")
_RESTRICTED_NAME = r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}"
_MEDIA_TYPE = re.compile(f"{_RESTRICTED_NAME}/{_RESTRICTED_NAME}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SHOWN = 60

type _ErrorClass = type[InvalidInputError]


def _show(text: str) -> str:
    """A short, one-line quotation of untrusted text for an error message."""
    return repr(text[:_SHOWN] + "…") if len(text) > _SHOWN else repr(text)


def _text(where: str, value: object, error: _ErrorClass = ManifestInvalidError) -> tuple[str, int]:
    """``value`` and its UTF-8 size; raise ``error`` if it is not a str or has a lone surrogate."""
    if not isinstance(value, str):
        raise error(f"{where} must be text, got {type(value).__name__}", field=where)
    try:
        return value, len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise error(
            f"{where} is not valid Unicode text (lone surrogate): {_show(value)}", field=where
        ) from exc


def _check_plain_text(
    where: str, value: object, maximum: int, error: _ErrorClass = ManifestInvalidError
) -> str:
    """Bounded text without control characters (C0, DEL, C1); it may be empty."""
    text, size = _text(where, value, error)
    check_limit(f"{where} size in bytes", size, maximum)
    if _CONTROL.search(text):
        raise error(f"{where} contains a control character: {_show(text)}", field=where)
    return text


def _check_token(where: str, value: object, maximum: int) -> str:
    text, size = _text(where, value)
    check_limit(f"{where} size in bytes", size, maximum)
    if not _TOKEN.fullmatch(text):
        raise ManifestInvalidError(
            f"{where} must match [a-z0-9][a-z0-9._-]*, got {_show(text)}", field=where
        )
    return text


def validate_kind(kind: str) -> str:
    """Return ``kind`` when it is a valid package kind (``report``, ``sbom.cyclonedx``, …)."""
    return _check_token("kind", kind, MAX_KIND_BYTES)


def validate_label_key(key: str) -> str:
    """Return ``key`` when it is a valid label key, else raise ``InvalidLabelError``."""
    return _check_label_key(key)


def _check_label_key(value: object) -> str:
    key, size = _text("label key", value, InvalidLabelError)
    check_limit(f"label key {_show(key)} size in bytes", size, MAX_LABEL_KEY_BYTES)
    if not _LABEL_KEY.fullmatch(key):
        raise InvalidLabelError(
            f"label key {_show(key)} must be lower-case letters and digits, with '.', '_', "
            "'/' or '-' inside (e.g. git.commit, app.kubernetes.io/name)",
            key=key[:_SHOWN],
        )
    return key


def validate_media_type(media_type: str, *, where: str = "media_type") -> str:
    """Return ``media_type`` when it is a lower-case ``type/subtype`` with no parameters."""
    text, size = _text(where, media_type)
    check_limit(f"{where} size in bytes", size, MAX_MEDIA_TYPE_BYTES)
    if not _MEDIA_TYPE.fullmatch(text):
        raise ManifestInvalidError(
            f"{where} must be a lower-case type/subtype media type without parameters "
            f"(e.g. application/json), got {_show(media_type)}",
            field=where,
        )
    return media_type


def _check_created(created: object) -> None:
    if not isinstance(created, str):
        raise ManifestInvalidError(
            f"created must be RFC 3339 UTC text, got {type(created).__name__}", field="created"
        )
    try:
        canonical = format_time(parse_time(created))
    except InvalidInputError as exc:
        raise ManifestInvalidError(
            f"created must be an RFC 3339 UTC time like 2026-01-31T12:00:00Z, got {_show(created)}",
            field="created",
        ) from exc
    if canonical != created:
        raise ManifestInvalidError(
            f"created {_show(created)} is not in canonical form: write {canonical!r} "
            "(no trailing zeros in the fraction)",
            field="created",
        )


def _check_producer(producer: object) -> None:
    if not isinstance(producer, Producer):
        raise ManifestInvalidError("producer must be a Producer", field="producer")
    fields = (("name", producer.name), ("version", producer.version), ("run", producer.run))
    for key, value in fields:
        if value is None and key != "name":
            continue  # absent optional field
        where = f"producer.{key}"
        _check_plain_text(where, value, MAX_PRODUCER_FIELD_BYTES)
        if not value:
            raise ManifestInvalidError(f"{where} must not be empty (omit it instead)", field=where)


def _check_mapping(where: str, value: object) -> Mapping[object, object]:
    if not isinstance(value, Mapping):
        raise ManifestInvalidError(f"{where} must be a mapping of text to text", field=where)
    return value


def _check_labels(labels: object) -> None:
    mapping = _check_mapping("labels", labels)
    check_limit("label count", len(mapping), MAX_LABELS)
    for key, value in mapping.items():
        text = _check_label_key(key)
        _check_plain_text(f"labels[{_show(text)}]", value, MAX_LABEL_VALUE_BYTES, InvalidLabelError)


def _check_annotations(annotations: object) -> None:
    mapping = _check_mapping("annotations", annotations)
    check_limit("annotation count", len(mapping), MAX_ANNOTATIONS)
    for key, value in mapping.items():
        text = _check_plain_text("annotation key", key, MAX_ANNOTATION_KEY_BYTES)
        if not text:
            raise ManifestInvalidError("annotation keys must not be empty", field="annotations")
        where = f"annotations[{_show(text)}]"
        check_limit(f"{where} size in bytes", _text(where, value)[1], MAX_ANNOTATION_VALUE_BYTES)


def _check_file(index: int, entry: object) -> str:
    if not isinstance(entry, FileEntry):
        raise ManifestInvalidError(f"files[{index}] must be a FileEntry", field="files")
    path = validate_path(entry.path)
    where = f"file {_show(path)}"
    size = entry.size
    if type(size) is not int or size < 0:
        raise ManifestInvalidError(
            f"{where}: size must be a non-negative integer, got {size!r}", field="size", path=path
        )
    check_limit(f"{where} size", size, MAX_BLOB_SIZE)
    for key, value in (("sha256", entry.sha256), ("blake3", entry.blake3)):
        if not is_hex64(value):
            raise InvalidDigestError(
                f"{where}: {key} must be 64 lower-case hex characters (no prefix), "
                f"got {value!r:.80}",
                field=key,
                path=path,
            )
    validate_media_type(entry.media_type, where=f"{where}: media_type")
    if type(entry.executable) is not bool:
        raise ManifestInvalidError(
            f"{where}: executable must be a bool, got {entry.executable!r:.40}",
            field="executable",
            path=path,
        )
    return path


def _check_files(files: object) -> None:
    if not isinstance(files, tuple):
        raise ManifestInvalidError("files must be a tuple of FileEntry", field="files")
    check_limit("file count", len(files), MAX_FILES)
    previous: str | None = None
    for index, entry in enumerate(files):
        path = _check_file(index, entry)
        if previous is not None and path <= previous:
            problem = "is listed twice" if path == previous else f"comes after {_show(previous)}"
            raise ManifestInvalidError(
                f"files must be sorted by path and unique: {_show(path)} {problem}",
                field="files",
                path=path,
            )
        previous = path
    _check_no_directory_clash(files)


def _check_no_directory_clash(files: tuple[FileEntry, ...]) -> None:
    """Reject a file whose path is a directory of another file's path (``a`` and ``a/b``)."""
    paths = {entry.path for entry in files}
    for path in paths:
        slash = path.find("/")
        while slash != -1:
            if path[:slash] in paths:
                raise ManifestInvalidError(
                    f"file {_show(path[:slash])} is also a directory of file {_show(path)}: "
                    "the package could not be extracted",
                    field="files",
                    path=path[:slash],
                )
            slash = path.find("/", slash + 1)


def _check_package_digest(where: str, text: object) -> None:
    if not isinstance(text, str):
        raise InvalidDigestError(
            f"{where} must be a sha256:<hex> package digest, got {type(text).__name__}",
            field=where,
        )
    try:
        Digest.parse(text, algorithm="sha256")
    except InvalidDigestError as exc:
        raise InvalidDigestError(f"{where}: {exc}", field=where, digest=text[:80]) from exc


def _check_links(links: object) -> None:
    if not isinstance(links, tuple):
        raise ManifestInvalidError("links must be a tuple of Link", field="links")
    check_limit("link count", len(links), MAX_LINKS)
    previous: tuple[str, str] | None = None
    for index, link in enumerate(links):
        if not isinstance(link, Link):
            raise ManifestInvalidError(f"links[{index}] must be a Link", field="links")
        _check_token(f"links[{index}].rel", link.rel, MAX_LINK_REL_BYTES)
        _check_package_digest(f"links[{index}].target", link.target)
        current = (link.rel, link.target)
        if previous is not None and current <= previous:
            problem = "is listed twice" if current == previous else "is out of order"
            raise ManifestInvalidError(
                f"links must be sorted by (rel, target) and unique: links[{index}] "
                f"({link.rel} {link.target}) {problem}",
                field="links",
            )
        previous = current


def validate_manifest(m: Manifest) -> Manifest:
    """Return ``m`` unchanged when it obeys every schema-1 rule (see the module docstring).

    Raises:
        ManifestInvalidError: a structural rule is broken (schema, kind, created, order, …).
        InvalidNameError: namespace, name or version breaks its grammar.
        InvalidLabelError: a label key or value breaks the label rules.
        InvalidPathError: a file path breaks the path rules.
        InvalidDigestError: a file hex, the subject or a link target is malformed.
        LimitExceededError: a count or size is over its ``kernels.limits`` bound.
    """
    if type(m.schema) is not int or m.schema != SCHEMA_VERSION:
        raise ManifestInvalidError(
            f"unsupported manifest schema {m.schema!r:.40}: this version reads schema "
            f"{SCHEMA_VERSION}",
            field="schema",
        )
    validate_namespace(m.namespace)
    validate_name(m.name)
    validate_version(m.version)
    validate_kind(m.kind)
    _check_created(m.created)
    _check_producer(m.producer)
    _check_labels(m.labels)
    _check_annotations(m.annotations)
    _check_files(m.files)
    if m.subject is not None:
        _check_package_digest("subject", m.subject)
    _check_links(m.links)
    return m
