"""Manifest ⇄ plain value ⇄ canonical CBOR (the identity) and JSON (the wire), exact both ways.

The plain value is the one tree both encodings carry: a dict with text keys holding only text,
integers, ``True``, lists and dicts. Canonical CBOR (RFC 8949 §4.2.1, ``kernels.cbor``) of
that tree is the manifest's identity: its digest is ``sha256:`` + sha256 of those bytes.

One logical manifest has exactly one value, so one encoding and one digest:

- ``labels``, ``annotations`` and ``files`` are always present, possibly empty;
- an optional field is omitted when absent, and its explicit "empty" forms are rejected on
  the way in: ``executable: false``, ``producer.version: null`` (or ``run``),
  ``subject: null`` and ``links: []`` all raise ``ManifestInvalidError`` (an empty string is
  rejected by validation, since producer fields must not be empty);
- keys are a closed set (schema 1): an unknown key is rejected, at every level;
- an integer is an ``int`` and never a ``bool`` (``bool`` subclasses ``int`` in Python) or a
  ``float``, and text is ``str``: JSON's ``1.0`` and ``true`` are refused where ``size`` is
  expected, so JSON → CBOR can never change a value's type;
- everything decoded is then validated (``validate.validate_manifest``), and everything
  encoded was validated first, so invalid manifests never get bytes or a digest.

Decoding CBOR is strict (``kernels.cbor.decode``): bytes whose re-encoding would differ are
rejected, hence ``encode_manifest(decode_manifest(b)) == b`` for every accepted ``b``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from artifact_store.errors import ManifestInvalidError
from artifact_store.kernels import cbor
from artifact_store.kernels.cbor import CborInput
from artifact_store.kernels.digest import Digest
from artifact_store.kernels.limits import CBOR_MAX_DEPTH, MAX_MANIFEST_BYTES, check_size
from artifact_store.manifest.model import SCHEMA_VERSION, FileEntry, Link, Manifest, Producer
from artifact_store.manifest.validate import validate_manifest

__all__ = [
    "decode_manifest",
    "encode_manifest",
    "manifest_digest",
    "manifest_from_json",
    "manifest_from_trusted_value",
    "manifest_from_value",
    "manifest_to_json",
    "manifest_to_value",
]

_TOP_REQUIRED = frozenset(
    {"schema", "namespace", "name", "version", "kind", "created", "producer", "labels",
     "annotations", "files"}
)  # fmt: skip
_TOP_OPTIONAL = frozenset({"subject", "links"})
_PRODUCER_REQUIRED = frozenset({"name"})
_PRODUCER_OPTIONAL = frozenset({"version", "run"})
_FILE_REQUIRED = frozenset({"path", "size", "sha256", "blake3", "media_type"})
_FILE_OPTIONAL = frozenset({"executable"})
_LINK_KEYS = frozenset({"rel", "target"})
_NO_KEYS: frozenset[str] = frozenset()


# --- Manifest → value ------------------------------------------------------------------------


def _producer_value(producer: Producer) -> dict[str, CborInput]:
    value: dict[str, CborInput] = {"name": producer.name}
    if producer.version is not None:
        value["version"] = producer.version
    if producer.run is not None:
        value["run"] = producer.run
    return value


def _file_value(entry: FileEntry) -> dict[str, CborInput]:
    value: dict[str, CborInput] = {
        "path": entry.path,
        "size": entry.size,
        "sha256": entry.sha256,
        "blake3": entry.blake3,
        "media_type": entry.media_type,
    }
    if entry.executable:
        value["executable"] = True
    return value


def manifest_to_value(m: Manifest) -> dict[str, CborInput]:
    """The plain value of ``m`` (validated first); a fresh tree the caller may keep or change.

    Raises:
        ManifestInvalidError (and the other ``validate_manifest`` errors): ``m`` is invalid.
    """
    validate_manifest(m)
    value: dict[str, CborInput] = {
        "schema": m.schema,
        "namespace": m.namespace,
        "name": m.name,
        "version": m.version,
        "kind": m.kind,
        "created": m.created,
        "producer": _producer_value(m.producer),
        # Sorted only so that JSON output is stable; CBOR orders map keys itself.
        "labels": dict(sorted(m.labels.items())),
        "annotations": dict(sorted(m.annotations.items())),
        "files": [_file_value(entry) for entry in m.files],
    }
    if m.subject is not None:
        value["subject"] = m.subject
    if m.links:
        value["links"] = [{"rel": link.rel, "target": link.target} for link in m.links]
    return value


# --- value → Manifest ------------------------------------------------------------------------


def _fields(
    where: str, value: object, required: frozenset[str], optional: frozenset[str]
) -> dict[str, object]:
    """``value`` as a dict with text keys, exactly ``required`` plus some of ``optional``."""
    if not isinstance(value, dict):
        raise ManifestInvalidError(f"{where} must be a map, got {_type_name(value)}", field=where)
    for key in value:
        if not isinstance(key, str):
            raise ManifestInvalidError(
                f"{where} has a non-text key {key!r:.40}; keys are text", field=where
            )
    unknown = value.keys() - required - optional
    if unknown:
        raise ManifestInvalidError(
            f"{where} has unknown key(s) {sorted(unknown)!r:.200} (schema {SCHEMA_VERSION} is "
            "closed)",
            field=where,
        )
    missing = required - value.keys()
    if missing:
        raise ManifestInvalidError(
            f"{where} is missing required key(s) {sorted(missing)!r}", field=where
        )
    return value


def _type_name(value: object) -> str:
    return {dict: "map", list: "array", str: "text", bool: "bool", int: "integer"}.get(
        type(value), type(value).__name__
    )


def _text(where: str, value: object) -> str:
    if type(value) is not str:
        raise ManifestInvalidError(f"{where} must be text, got {_type_name(value)}", field=where)
    return value


def _int(where: str, value: object) -> int:
    # ``type() is int``: rejects bool (an int subclass) and float (JSON's 1.0).
    if type(value) is not int:
        raise ManifestInvalidError(
            f"{where} must be an integer, got {_type_name(value)}", field=where
        )
    return value


def _optional_text(where: str, fields: Mapping[str, object], key: str) -> str | None:
    if key not in fields:
        return None
    if fields[key] is None:
        raise ManifestInvalidError(
            f"{where}.{key} is null: omit an absent optional field instead", field=f"{where}.{key}"
        )
    return _text(f"{where}.{key}", fields[key])


def _text_map(where: str, value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ManifestInvalidError(
            f"{where} must be a map of text to text, got {_type_name(value)}", field=where
        )
    result: dict[str, str] = {}
    for key, item in value.items():
        if type(key) is not str:
            raise ManifestInvalidError(
                f"{where} has a non-text key {key!r:.40}; keys are text", field=where
            )
        result[key] = _text(f"{where}[{key[:60]!r}]", item)
    return result


def _list(where: str, value: object) -> list[object]:
    if not isinstance(value, list):
        raise ManifestInvalidError(
            f"{where} must be an array, got {_type_name(value)}", field=where
        )
    return value


def _producer(value: object) -> Producer:
    fields = _fields("producer", value, _PRODUCER_REQUIRED, _PRODUCER_OPTIONAL)
    return Producer(
        name=_text("producer.name", fields["name"]),
        version=_optional_text("producer", fields, "version"),
        run=_optional_text("producer", fields, "run"),
    )


def _file(index: int, value: object) -> FileEntry:
    where = f"files[{index}]"
    fields = _fields(where, value, _FILE_REQUIRED, _FILE_OPTIONAL)
    executable = False
    if "executable" in fields:
        if fields["executable"] is not True:
            raise ManifestInvalidError(
                f"{where}.executable must be true when present: omit it for a file that is "
                f"not executable (got {fields['executable']!r:.40})",
                field=f"{where}.executable",
            )
        executable = True
    return FileEntry(
        path=_text(f"{where}.path", fields["path"]),
        size=_int(f"{where}.size", fields["size"]),
        sha256=_text(f"{where}.sha256", fields["sha256"]),
        blake3=_text(f"{where}.blake3", fields["blake3"]),
        media_type=_text(f"{where}.media_type", fields["media_type"]),
        executable=executable,
    )


def _link(index: int, value: object) -> Link:
    where = f"links[{index}]"
    fields = _fields(where, value, _LINK_KEYS, _NO_KEYS)
    return Link(
        rel=_text(f"{where}.rel", fields["rel"]), target=_text(f"{where}.target", fields["target"])
    )


def _check_schema(value: dict[object, object]) -> None:
    # First, so a future schema gets "unsupported schema" rather than "unknown key".
    if "schema" not in value:
        raise ManifestInvalidError("manifest is missing required key 'schema'", field="schema")
    schema = value["schema"]
    if type(schema) is not int or schema != SCHEMA_VERSION:
        raise ManifestInvalidError(
            f"unsupported manifest schema {schema!r:.40}: this version reads schema "
            f"{SCHEMA_VERSION}",
            field="schema",
        )


def manifest_from_value(value: object) -> Manifest:
    """The manifest a plain value describes, strictly (see the module docstring); validated.

    Raises:
        ManifestInvalidError: wrong shape or type, unknown or missing key, an explicit empty
            form of an optional field (and the other ``validate_manifest`` errors).
    """
    if not isinstance(value, dict):
        raise ManifestInvalidError(f"manifest must be a map, got {_type_name(value)}")
    _check_schema(value)
    fields = _fields("manifest", value, _TOP_REQUIRED, _TOP_OPTIONAL)
    subject: str | None = None
    if "subject" in fields:
        if fields["subject"] is None:
            raise ManifestInvalidError(
                "subject is null: omit it when the package has no subject", field="subject"
            )
        subject = _text("subject", fields["subject"])
    links: tuple[Link, ...] = ()
    if "links" in fields:
        raw_links = _list("links", fields["links"])
        if not raw_links:
            raise ManifestInvalidError(
                "links is an empty array: omit it when the package has no links", field="links"
            )
        links = tuple(_link(index, item) for index, item in enumerate(raw_links))
    return validate_manifest(
        Manifest(
            schema=SCHEMA_VERSION,
            namespace=_text("namespace", fields["namespace"]),
            name=_text("name", fields["name"]),
            version=_text("version", fields["version"]),
            kind=_text("kind", fields["kind"]),
            created=_text("created", fields["created"]),
            producer=_producer(fields["producer"]),
            labels=_text_map("labels", fields["labels"]),
            annotations=_text_map("annotations", fields["annotations"]),
            files=tuple(_file(i, item) for i, item in enumerate(_list("files", fields["files"]))),
            subject=subject,
            links=links,
        )
    )


def manifest_from_trusted_value(value: dict[str, Any]) -> Manifest:
    """The manifest of a value this library encoded itself and that is known intact (an event
    body whose hash chain was just verified): built directly, without re-validation.

    Only the event-log replay uses this; anything from outside goes through
    :func:`manifest_from_value`.

    Raises:
        KeyError, TypeError: the value is not a manifest value after all (the caller turns
            these into ``EncodingError``).
    """
    producer = value["producer"]
    return Manifest(
        schema=value["schema"],
        namespace=value["namespace"],
        name=value["name"],
        version=value["version"],
        kind=value["kind"],
        created=value["created"],
        producer=Producer(
            name=producer["name"], version=producer.get("version"), run=producer.get("run")
        ),
        labels=value["labels"],
        annotations=value["annotations"],
        files=tuple(
            FileEntry(
                path=f["path"],
                size=f["size"],
                sha256=f["sha256"],
                blake3=f["blake3"],
                media_type=f["media_type"],
                executable=f.get("executable", False),
            )
            for f in value["files"]
        ),
        subject=value.get("subject"),
        links=tuple(Link(rel=x["rel"], target=x["target"]) for x in value.get("links", ())),
    )


# --- CBOR and JSON -----------------------------------------------------------------------------


def encode_manifest(m: Manifest) -> bytes:
    """The canonical CBOR bytes of ``m`` (validated first).

    Raises:
        PayloadTooLargeError: the encoding is over ``MAX_MANIFEST_BYTES``.
        ManifestInvalidError (and the other ``validate_manifest`` errors): ``m`` is invalid.
    """
    data = cbor.encode(manifest_to_value(m))
    check_size("encoded manifest", len(data), MAX_MANIFEST_BYTES)
    return data


def decode_manifest(data: bytes) -> Manifest:
    """The manifest encoded by ``data``, which must be its canonical CBOR.

    Raises:
        PayloadTooLargeError: ``data`` is over ``MAX_MANIFEST_BYTES`` (checked before decoding).
        EncodingError: ``data`` is not well-formed CBOR of the allowed types.
        NonCanonicalError: ``data`` is well-formed but not the canonical encoding.
        ManifestInvalidError (and the other ``validate_manifest`` errors): not a valid manifest.
    """
    check_size("manifest", len(data), MAX_MANIFEST_BYTES)
    value = cbor.decode(bytes(data), max_size=MAX_MANIFEST_BYTES, max_depth=CBOR_MAX_DEPTH)
    return manifest_from_value(value)


def manifest_to_json(m: Manifest) -> dict[str, CborInput]:
    """``m`` as a JSON-ready object with the same keys and values as its CBOR (validated first).

    Raises:
        ManifestInvalidError (and the other ``validate_manifest`` errors): ``m`` is invalid.
    """
    return manifest_to_value(m)


def manifest_from_json(obj: object) -> Manifest:
    """The manifest a parsed JSON object (``json.loads`` output) describes, strictly.

    The rules are those of :func:`manifest_from_value`; for JSON they mean in particular that
    floats (even ``1.0``), ``true``/``false`` where an integer is expected, and ``null`` for an
    absent optional field are all rejected.

    Raises:
        ManifestInvalidError (and the other ``validate_manifest`` errors): not a valid manifest.
    """
    return manifest_from_value(obj)


def manifest_digest(manifest: Manifest | bytes) -> str:
    """The package digest, ``sha256:<hex>`` of the canonical CBOR bytes.

    Given bytes, they are hashed as they are: pass bytes that came from
    :func:`encode_manifest`, or that :func:`decode_manifest` accepted.
    """
    data = manifest if isinstance(manifest, bytes) else encode_manifest(manifest)
    return str(Digest.sha256_of(data))
