"""The manifest codec: round trips, exactness, the one-encoding rules, strict JSON, digests."""

import copy
import dataclasses
import hashlib
import json

import cbor2
import pytest

from artifact_store.errors import (
    EncodingError,
    InvalidLabelError,
    ManifestInvalidError,
    NonCanonicalError,
    PayloadTooLargeError,
)
from artifact_store.kernels import cbor
from artifact_store.kernels.limits import MAX_MANIFEST_BYTES
from artifact_store.manifest import (
    FileEntry,
    Manifest,
    Producer,
    decode_manifest,
    encode_manifest,
    manifest_digest,
    manifest_from_json,
    manifest_from_value,
    manifest_to_json,
    manifest_to_value,
)

#: A fixed manifest whose encoding and digest must never change (they are package identities).
GOLDEN = Manifest(
    namespace="acme/ci",
    name="report",
    version="1.0.0",
    kind="report",
    created="2026-01-01T00:00:00Z",
    producer=Producer("ci", version="2.3"),
    labels={"git.commit": "abc123"},
    files=(
        FileEntry(
            path="a.txt",
            size=3,
            sha256=hashlib.sha256(b"abc").hexdigest(),
            blake3="6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85",
            media_type="text/plain",
        ),
        FileEntry(
            path="bin/run",
            size=0,
            sha256=hashlib.sha256(b"").hexdigest(),
            blake3="af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
            media_type="application/octet-stream",
            executable=True,
        ),
    ),
)
GOLDEN_DIGEST = "sha256:fcd5121387e6710c3bf33429af5c39442d70331e1776cc2982de58f6e5862966"

Json = dict[str, object]


def _json(m: Manifest) -> Json:
    """The manifest's JSON, as a client would receive and parse it."""
    loaded: Json = json.loads(json.dumps(manifest_to_json(m)))
    return loaded


def _files(obj: Json) -> list[Json]:
    files = obj["files"]
    assert isinstance(files, list)
    return files


def _producer(obj: Json) -> Json:
    producer = obj["producer"]
    assert isinstance(producer, dict)
    return producer


# --- round trips ----------------------------------------------------------------------------


def test_value_round_trip(manifest: Manifest) -> None:
    assert manifest_from_value(manifest_to_value(manifest)) == manifest


def test_cbor_round_trip(manifest: Manifest) -> None:
    assert decode_manifest(encode_manifest(manifest)) == manifest


def test_json_round_trip_through_text(manifest: Manifest) -> None:
    assert manifest_from_json(_json(manifest)) == manifest


def test_cbor_bytes_are_exact(manifest: Manifest) -> None:
    data = encode_manifest(manifest)
    assert encode_manifest(decode_manifest(data)) == data


def test_json_to_cbor_to_json_is_exact(manifest: Manifest) -> None:
    obj = _json(manifest)
    assert manifest_to_json(decode_manifest(encode_manifest(manifest_from_json(obj)))) == obj


def test_json_and_cbor_carry_the_same_tree(manifest: Manifest) -> None:
    assert cbor2.loads(encode_manifest(manifest)) == _json(manifest)


def test_to_value_returns_a_fresh_tree(manifest: Manifest) -> None:
    value = manifest_to_value(manifest)
    value["labels"] = {}
    assert manifest_to_value(manifest)["labels"] == dict(manifest.labels)


# --- the one-encoding rules -----------------------------------------------------------------


def test_absent_optionals_are_omitted(manifest: Manifest) -> None:
    bare = dataclasses.replace(
        manifest,
        producer=Producer("ci"),
        files=(dataclasses.replace(manifest.files[1], executable=False),),
        subject=None,
        links=(),
    )
    value = _json(bare)
    assert set(value) == {
        "schema", "namespace", "name", "version", "kind", "created", "producer", "labels",
        "annotations", "files",
    }  # fmt: skip
    assert _producer(value) == {"name": "ci"}
    assert "executable" not in _files(value)[0]


def test_present_optionals_are_written(manifest: Manifest) -> None:
    value = _json(manifest)
    assert value["subject"] == manifest.subject
    assert value["links"] == [{"rel": lk.rel, "target": lk.target} for lk in manifest.links]
    assert _producer(value) == {"name": "scanner", "version": "4.1", "run": "job-42"}
    assert _files(value)[1]["executable"] is True


def test_empty_labels_annotations_files_are_present(manifest: Manifest) -> None:
    value = _json(dataclasses.replace(manifest, labels={}, annotations={}, files=()))
    assert (value["labels"], value["annotations"], value["files"]) == ({}, {}, [])


def _set(path: tuple[str | int, ...], new: object) -> object:
    """A function that sets ``path`` in a JSON tree to ``new`` (or deletes it when ``...``)."""

    def edit(obj: Json) -> None:
        target: object = obj
        for step in path[:-1]:
            target = target[step]  # type: ignore[index]
        if new is Ellipsis:
            del target[path[-1]]  # type: ignore[attr-defined]
        else:
            target[path[-1]] = new  # type: ignore[index]

    return edit


EXPLICIT_EMPTY = {
    "executable-false": _set(("files", 0, "executable"), False),
    "producer-version-null": _set(("producer", "version"), None),
    "producer-run-null": _set(("producer", "run"), None),
    "subject-null": _set(("subject",), None),
    "links-empty": _set(("links",), []),
}


@pytest.mark.parametrize("edit", EXPLICIT_EMPTY.values(), ids=EXPLICIT_EMPTY.keys())
def test_explicit_empty_forms_are_rejected_in_json(manifest: Manifest, edit: object) -> None:
    obj = _json(manifest)
    edit(obj)  # type: ignore[operator]
    with pytest.raises(ManifestInvalidError):
        manifest_from_json(obj)


@pytest.mark.parametrize("edit", EXPLICIT_EMPTY.values(), ids=EXPLICIT_EMPTY.keys())
def test_explicit_empty_forms_are_rejected_in_cbor(manifest: Manifest, edit: object) -> None:
    obj = _json(manifest)
    edit(obj)  # type: ignore[operator]
    data = cbor.encode(obj)  # type: ignore[arg-type]  # canonical bytes of a wrong tree
    with pytest.raises(ManifestInvalidError):
        decode_manifest(data)


def test_empty_producer_version_is_rejected(manifest: Manifest) -> None:
    obj = _json(manifest)
    _producer(obj)["version"] = ""
    with pytest.raises(ManifestInvalidError):
        manifest_from_json(obj)


@pytest.mark.parametrize(
    "path",
    [("extra",), ("producer", "extra"), ("files", 0, "extra"), ("links", 0, "extra")],
    ids=["top", "producer", "file", "link"],
)
def test_unknown_keys_are_rejected(manifest: Manifest, path: tuple[str | int, ...]) -> None:
    obj = _json(manifest)
    _set(path, "x")(obj)  # type: ignore[operator]
    with pytest.raises(ManifestInvalidError, match="unknown key"):
        manifest_from_json(obj)


@pytest.mark.parametrize(
    "path",
    [("labels",), ("annotations",), ("files",), ("created",), ("producer", "name"),
     ("files", 0, "size"), ("files", 0, "media_type"), ("links", 0, "target"), ("schema",)],
)  # fmt: skip
def test_missing_required_keys_are_rejected(
    manifest: Manifest, path: tuple[str | int, ...]
) -> None:
    obj = _json(manifest)
    _set(path, ...)(obj)  # type: ignore[operator]
    with pytest.raises(ManifestInvalidError, match="missing"):
        manifest_from_json(obj)


def test_future_schema_is_named_before_unknown_keys(manifest: Manifest) -> None:
    obj = _json(manifest)
    obj["schema"] = 2
    obj["new_field"] = "x"
    with pytest.raises(ManifestInvalidError, match="schema 2"):
        manifest_from_json(obj)


# --- strict types -----------------------------------------------------------------------------


WRONG_TYPES = {
    "size-float": (("files", 0, "size"), 8.0),
    "size-bool": (("files", 0, "size"), True),
    "size-text": (("files", 0, "size"), "8"),
    "schema-float": (("schema",), 1.0),
    "schema-bool": (("schema",), True),
    "executable-int": (("files", 1, "executable"), 1),
    "name-int": (("name",), 5),
    "producer-list": (("producer",), ["ci"]),
    "files-map": (("files",), {}),
    "file-list": (("files", 0), []),
    "labels-list": (("labels",), []),
    "annotation-value-float": (("annotations", "note"), 1.5),
    "links-map": (("links",), {"rel": "a"}),
    "subject-int": (("subject",), 1),
}


@pytest.mark.parametrize("change", WRONG_TYPES.values(), ids=WRONG_TYPES.keys())
def test_wrong_json_types_are_rejected(
    manifest: Manifest, change: tuple[tuple[str | int, ...], object]
) -> None:
    obj = _json(manifest)
    _set(*change)(obj)  # type: ignore[operator]
    with pytest.raises(ManifestInvalidError):
        manifest_from_json(obj)


def test_non_text_keys_are_rejected(manifest: Manifest) -> None:
    obj = _json(manifest)
    obj["labels"] = {1: "x"}
    with pytest.raises(ManifestInvalidError, match="non-text key"):
        manifest_from_json(obj)
    obj = _json(manifest)
    obj[1] = "x"  # type: ignore[index]
    with pytest.raises(ManifestInvalidError, match="non-text key"):
        manifest_from_json(obj)


@pytest.mark.parametrize("obj", [None, [], "manifest", 1, b"\xa0"])
def test_non_map_documents_are_rejected(obj: object) -> None:
    with pytest.raises(ManifestInvalidError):
        manifest_from_json(obj)


def test_decoded_values_are_validated(manifest: Manifest) -> None:
    obj = _json(manifest)
    obj["labels"] = {"Bad Key": "x"}
    with pytest.raises(InvalidLabelError):
        manifest_from_json(obj)


def test_encode_validates_first(manifest: Manifest) -> None:
    with pytest.raises(ManifestInvalidError):
        encode_manifest(dataclasses.replace(manifest, kind="Not A Kind"))


# --- CBOR input -------------------------------------------------------------------------------


def test_non_canonical_cbor_is_rejected(manifest: Manifest) -> None:
    data = cbor2.dumps(manifest_to_value(manifest))  # insertion order, not §4.2.1 order
    assert data != encode_manifest(manifest)
    with pytest.raises(NonCanonicalError):
        decode_manifest(data)


@pytest.mark.parametrize(
    "data",
    [b"", b"\xff", b"\xa0\x00", b"\x40", b"\xf9\x3c\x00"],
    ids=["empty", "break", "trailing", "bytes", "float"],
)
def test_malformed_cbor_is_rejected(data: bytes) -> None:
    with pytest.raises(EncodingError):
        decode_manifest(data)


def test_cbor_that_is_not_a_manifest_is_rejected() -> None:
    with pytest.raises(ManifestInvalidError):
        decode_manifest(cbor.encode({"schema": 1}))


def test_oversized_input_is_rejected_before_decoding() -> None:
    with pytest.raises(PayloadTooLargeError):
        decode_manifest(b"\xff" * (MAX_MANIFEST_BYTES + 1))


def test_oversized_manifest_is_not_encoded(manifest: Manifest) -> None:
    template = manifest.files[0]
    deep = "/".join(["d" * 250] * 16)  # about 4 KB per path
    count = MAX_MANIFEST_BYTES // len(deep) + 10
    files = tuple(dataclasses.replace(template, path=f"{i:05d}/{deep}") for i in range(count))
    with pytest.raises(PayloadTooLargeError):
        encode_manifest(dataclasses.replace(manifest, files=files))


# --- digests ----------------------------------------------------------------------------------


def test_digest_is_sha256_of_canonical_bytes(manifest: Manifest) -> None:
    data = encode_manifest(manifest)
    expected = "sha256:" + hashlib.sha256(data).hexdigest()
    assert manifest_digest(manifest) == expected
    assert manifest_digest(data) == expected


def test_golden_encoding_is_canonical_cbor() -> None:
    # An independent canonical encoder gives the same bytes (text-only keys: cbor2's
    # length-first order is the bytewise order of RFC 8949 §4.2.1).
    data = encode_manifest(GOLDEN)
    assert data == cbor2.dumps(copy.deepcopy(manifest_to_value(GOLDEN)), canonical=True)


def test_golden_json_tree() -> None:
    assert manifest_to_json(GOLDEN) == {
        "schema": 1,
        "namespace": "acme/ci",
        "name": "report",
        "version": "1.0.0",
        "kind": "report",
        "created": "2026-01-01T00:00:00Z",
        "producer": {"name": "ci", "version": "2.3"},
        "labels": {"git.commit": "abc123"},
        "annotations": {},
        "files": [
            {
                "path": "a.txt",
                "size": 3,
                "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                "blake3": "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85",
                "media_type": "text/plain",
            },
            {
                "path": "bin/run",
                "size": 0,
                "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "blake3": "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
                "media_type": "application/octet-stream",
                "executable": True,
            },
        ],
    }


def test_golden_digest_is_stable() -> None:
    assert manifest_digest(GOLDEN) == GOLDEN_DIGEST


def test_equal_manifests_have_equal_digests(manifest: Manifest) -> None:
    reordered = dataclasses.replace(manifest, labels=dict(reversed(list(manifest.labels.items()))))
    assert manifest_digest(reordered) == manifest_digest(manifest)


def test_any_change_changes_the_digest(manifest: Manifest) -> None:
    changed = dataclasses.replace(manifest, annotations={"note": "other"})
    assert manifest_digest(changed) != manifest_digest(manifest)
