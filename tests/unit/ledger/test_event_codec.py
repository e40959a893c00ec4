"""Event bodies (ledger.codec): round trips for every payload, canonical bytes, strict rejection."""

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.strategies import manifests
from tests.test_events_catalogue import SAMPLES

from artifact_store.errors import EncodingError, ManifestInvalidError, NonCanonicalError
from artifact_store.kernels import cbor
from artifact_store.kernels.cbor import CborKey, CborValue
from artifact_store.ledger.codec import (
    ENVELOPE_VERSION,
    Envelope,
    decode_body,
    encode_body,
    payload_from_value,
    payload_to_value,
)
from artifact_store.ledger.events import (
    PAYLOAD_TYPES,
    BlobStored,
    PackageCommitted,
    PackageDeleted,
    Payload,
    RetentionPolicySet,
    TokenIssued,
)
from artifact_store.manifest import Manifest, manifest_digest

ID = uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057")
TIME = datetime(2026, 3, 1, 12, 30, 0, 250_000, tzinfo=UTC)
#: Hypothesis takes naive bounds for ``st.datetimes``.
FIRST = datetime(1970, 1, 1)  # noqa: DTZ001
LAST = datetime(9999, 12, 31, 23, 59, 59, 999_999)  # noqa: DTZ001
BLOB = BlobStored(sha256="a" * 64, blake3="b" * 64, size=1234)


def envelope(payload: Payload, *, seq: int = 7) -> Envelope:
    """An envelope around ``payload`` with fixed metadata."""
    return Envelope(seq=seq, id=ID, time=TIME, actor="ci-bot", payload=payload)


def encode(env: Envelope) -> bytes:
    """``encode_body`` of an envelope."""
    return encode_body(seq=env.seq, id=env.id, time=env.time, actor=env.actor, payload=env.payload)


def body_value(payload: Payload = BLOB) -> dict[str, CborValue]:
    """The decoded CBOR map of a valid body, ready to be tampered with."""
    value = cbor.decode(encode(envelope(payload)))
    assert isinstance(value, dict)
    return {str(key): item for key, item in value.items()}


def payload_value(payload: Payload = BLOB) -> dict[str, CborValue]:
    """The decoded CBOR map of a payload."""
    value = body_value(payload)["payload"]
    assert isinstance(value, dict)
    return {str(key): item for key, item in value.items()}


def with_payload(payload: dict[str, CborValue], type_name: str = BlobStored.TYPE) -> bytes:
    """A canonical body holding ``payload`` as the payload of a ``type_name`` event."""
    value = body_value()
    value["type"] = type_name
    inner: dict[CborKey, CborValue] = {}
    inner.update(payload)
    value["payload"] = inner
    return cbor.encode(value)


def minimal(payload: Payload) -> Payload:
    """``payload`` with every field whose default is None set back to None."""
    absent: dict[str, Any] = {
        f.name: None
        for f in dataclasses.fields(payload)
        if f.default is None and f.default_factory is dataclasses.MISSING
    }
    return dataclasses.replace(payload, **absent)


def optional_fields(cls: type[Payload]) -> list[str]:
    """The fields of ``cls`` that are left out of a body when None."""
    return [f.name for f in dataclasses.fields(cls) if f.default is None]


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", SAMPLES, ids=lambda p: p.TYPE)
def test_round_trip_every_payload(payload: Payload) -> None:
    env = envelope(payload)
    assert decode_body(encode(env)) == env


@pytest.mark.parametrize("payload", [minimal(p) for p in SAMPLES], ids=lambda p: p.TYPE)
def test_round_trip_every_payload_with_optional_fields_absent(payload: Payload) -> None:
    env = envelope(payload)
    assert decode_body(encode(env)) == env


@pytest.mark.parametrize(
    "cls", [cls for cls in PAYLOAD_TYPES.values() if optional_fields(cls)], ids=lambda c: c.TYPE
)
def test_none_fields_are_omitted_from_the_body(cls: type[Payload]) -> None:
    (sample,) = [p for p in SAMPLES if type(p) is cls]
    value = payload_value(minimal(sample))
    assert value.keys().isdisjoint(optional_fields(cls))


@pytest.mark.parametrize(
    "cls", [cls for cls in PAYLOAD_TYPES.values() if optional_fields(cls)], ids=lambda c: c.TYPE
)
def test_set_optional_fields_are_in_the_body(cls: type[Payload]) -> None:
    (sample,) = [p for p in SAMPLES if type(p) is cls]
    assert set(optional_fields(cls)) <= payload_value(sample).keys()


@pytest.mark.parametrize("payload", SAMPLES, ids=lambda p: p.TYPE)
def test_payload_value_round_trips(payload: Payload) -> None:
    assert payload_from_value(payload.TYPE, payload_to_value(payload)) == payload


@pytest.mark.parametrize("payload", SAMPLES, ids=lambda p: p.TYPE)
def test_body_is_canonical_cbor(payload: Payload) -> None:
    body = encode(envelope(payload))
    assert cbor.encode(cbor.decode(body)) == body


@pytest.mark.parametrize("payload", SAMPLES, ids=lambda p: p.TYPE)
def test_decoded_body_re_encodes_to_the_same_bytes(payload: Payload) -> None:
    body = encode(envelope(payload))
    assert encode(decode_body(body)) == body


def test_body_envelope_layout() -> None:
    assert body_value() == {
        "v": ENVELOPE_VERSION,
        "seq": 7,
        "id": str(ID),
        "time": "2026-03-01T12:30:00.25Z",
        "type": "blob.stored",
        "actor": "ci-bot",
        "payload": {"sha256": "a" * 64, "blake3": "b" * 64, "size": 1234},
    }


def test_caller_containers_are_copied_into_the_value() -> None:
    scopes = ["a:pull"]
    token = TokenIssued(token_id="t", principal="p", token_sha256="c" * 64, scopes=scopes)
    value = payload_to_value(token)
    scopes.append("b:push")
    assert value["scopes"] == ["a:pull"]


@settings(max_examples=50, deadline=None)
@given(manifests())
def test_package_committed_round_trips_any_manifest(manifest: Manifest) -> None:
    env = envelope(PackageCommitted(digest=manifest_digest(manifest), manifest=manifest))
    body = encode(env)
    assert decode_body(body) == env
    assert cbor.encode(cbor.decode(body)) == body


@settings(max_examples=200)
@given(
    seq=st.integers(1, 2**63 - 1),
    at=st.datetimes(FIRST, LAST, timezones=st.just(UTC)),
    actor=st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
    raw_id=st.uuids(),
    payload=st.sampled_from(SAMPLES),
)
def test_envelope_round_trips(
    seq: int, at: datetime, actor: str, raw_id: uuid.UUID, payload: Payload
) -> None:
    env = Envelope(seq=seq, id=raw_id, time=at, actor=actor, payload=payload)
    body = encode(env)
    assert decode_body(body) == env
    assert encode(decode_body(body)) == body


def test_time_in_another_zone_decodes_as_the_same_instant_in_utc() -> None:
    at = TIME.astimezone(timezone(timedelta(hours=2)))
    decoded = decode_body(encode(Envelope(seq=1, id=ID, time=at, actor="a", payload=BLOB)))
    assert decoded.time == at
    assert decoded.time.tzinfo is UTC


# --- rejections: payloads ----------------------------------------------------------------------


def test_unknown_type_is_rejected() -> None:
    with pytest.raises(EncodingError):
        decode_body(with_payload(payload_value(), "blob.exploded"))


def test_type_that_is_not_text_is_rejected() -> None:
    value = body_value()
    value["type"] = 1
    with pytest.raises(EncodingError):
        decode_body(cbor.encode(value))


def test_unknown_field_is_rejected() -> None:
    with pytest.raises(EncodingError):
        decode_body(with_payload({**payload_value(), "colour": "blue"}))


@pytest.mark.parametrize("field", ["sha256", "blake3", "size"])
def test_missing_required_field_is_rejected(field: str) -> None:
    payload = payload_value()
    del payload[field]
    with pytest.raises(EncodingError):
        decode_body(with_payload(payload))


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        pytest.param("size", "1", id="size-text"),
        pytest.param("size", True, id="size-bool"),
        pytest.param("size", None, id="size-null"),
        pytest.param("size", [1], id="size-array"),
        pytest.param("sha256", 1, id="sha256-integer"),
        pytest.param("sha256", None, id="sha256-null"),
        pytest.param("blake3", {"hex": "b"}, id="blake3-map"),
    ],
)
def test_mistyped_field_is_rejected(field: str, bad: CborValue) -> None:
    with pytest.raises(EncodingError):
        decode_body(with_payload({**payload_value(), field: bad}))


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("a:pull", id="text"),
        pytest.param([1], id="integers"),
        pytest.param([None], id="nulls"),
        pytest.param({"a": "b"}, id="map"),
    ],
)
def test_mistyped_list_field_is_rejected(bad: CborValue) -> None:
    (sample,) = [p for p in SAMPLES if isinstance(p, TokenIssued)]
    value = {**payload_value(sample), "scopes": bad}
    with pytest.raises(EncodingError):
        decode_body(with_payload(value, TokenIssued.TYPE))


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(["kind"], id="array"),
        pytest.param({"kind": 1}, id="integer-value"),
        pytest.param({"kind": None}, id="null-value"),
        pytest.param({1: "report"}, id="integer-key"),
    ],
)
def test_mistyped_map_field_is_rejected(bad: CborValue) -> None:
    (sample,) = [p for p in SAMPLES if isinstance(p, RetentionPolicySet)]
    value = {**payload_value(sample), "selector": bad}
    with pytest.raises(EncodingError):
        decode_body(with_payload(value, RetentionPolicySet.TYPE))


def test_explicit_null_for_an_optional_field_is_rejected() -> None:
    value: dict[str, CborValue] = {"digest": "sha256:" + "c" * 64, "reason": None}
    with pytest.raises(EncodingError):
        decode_body(with_payload(value, PackageDeleted.TYPE))


def test_optional_int_field_rejects_a_bool() -> None:
    (sample,) = [p for p in SAMPLES if isinstance(p, RetentionPolicySet)]
    value = {**payload_value(sample), "keep_last": True}
    with pytest.raises(EncodingError):
        decode_body(with_payload(value, RetentionPolicySet.TYPE))


@pytest.mark.parametrize(
    "bad",
    [pytest.param([], id="array"), pytest.param("x", id="text"), pytest.param(None, id="null")],
)
def test_payload_that_is_not_a_map_is_rejected(bad: CborValue) -> None:
    value = body_value()
    value["payload"] = bad
    with pytest.raises(EncodingError):
        decode_body(cbor.encode(value))


def test_payload_from_value_rejects_unknown_type() -> None:
    with pytest.raises(EncodingError):
        payload_from_value("blob.exploded", {})


def test_package_committed_with_a_mistyped_manifest_is_rejected() -> None:
    (sample,) = [p for p in SAMPLES if isinstance(p, PackageCommitted)]
    value = {**payload_value(sample), "manifest": "not a manifest"}
    with pytest.raises(ManifestInvalidError):
        decode_body(with_payload(value, PackageCommitted.TYPE))


def test_package_committed_without_a_manifest_is_rejected() -> None:
    with pytest.raises(EncodingError):
        decode_body(with_payload({"digest": "sha256:" + "c" * 64}, PackageCommitted.TYPE))


# --- rejections: the envelope ------------------------------------------------------------------


@pytest.mark.parametrize(
    "version",
    [
        pytest.param(0, id="zero"),
        pytest.param(2, id="two"),
        pytest.param(-1, id="negative"),
        pytest.param("1", id="text"),
        pytest.param(True, id="true"),
        pytest.param(None, id="null"),
    ],
)
def test_wrong_envelope_version_is_rejected(version: CborValue) -> None:
    value = body_value()
    value["v"] = version
    with pytest.raises(EncodingError):
        decode_body(cbor.encode(value))


def test_extra_envelope_key_is_rejected() -> None:
    value = body_value()
    value["note"] = "hi"
    with pytest.raises(EncodingError):
        decode_body(cbor.encode(value))


@pytest.mark.parametrize("key", ["v", "seq", "id", "time", "type", "actor", "payload"])
def test_missing_envelope_key_is_rejected(key: str) -> None:
    value = body_value()
    del value[key]
    with pytest.raises(EncodingError):
        decode_body(cbor.encode(value))


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        pytest.param("seq", "7", id="seq-text"),
        pytest.param("seq", True, id="seq-bool"),
        pytest.param("seq", None, id="seq-null"),
        pytest.param("id", 7, id="id-integer"),
        pytest.param("id", "not-a-uuid", id="id-not-a-uuid"),
        pytest.param("id", str(ID).upper(), id="id-upper-case"),
        pytest.param("id", ID.hex, id="id-without-hyphens"),
        pytest.param("id", f"{{{ID}}}", id="id-braces"),
        pytest.param("id", f"urn:uuid:{ID}", id="id-urn"),
        pytest.param("time", 1_772_368_200, id="time-integer"),
        pytest.param("time", "2026-03-01T12:30:00.25", id="time-without-z"),
        pytest.param("time", "2026-03-01T12:30:00.25+00:00", id="time-offset"),
        pytest.param("time", "2026-02-30T12:30:00Z", id="time-no-such-day"),
        pytest.param("time", "2026-03-01T12:30:00.250000Z", id="time-trailing-zeros"),
        pytest.param("time", "2026-03-01T12:30:00.000Z", id="time-zero-fraction"),
        pytest.param("actor", 1, id="actor-integer"),
        pytest.param("actor", None, id="actor-null"),
    ],
)
def test_mistyped_envelope_field_is_rejected(key: str, bad: CborValue) -> None:
    value = body_value()
    value[key] = bad
    with pytest.raises(EncodingError):
        decode_body(cbor.encode(value))


@pytest.mark.parametrize(
    "value",
    [pytest.param([1, 2], id="array"), pytest.param("body", id="text"), pytest.param(1, id="int")],
)
def test_body_that_is_not_a_map_is_rejected(value: CborValue) -> None:
    with pytest.raises(EncodingError):
        decode_body(cbor.encode(value))


def test_non_canonical_body_is_rejected() -> None:
    body = encode(envelope(BLOB))
    # The same map with a one-byte length written in the two-byte form: well-formed, not shortest.
    assert body[0] == 0xA7  # a map of 7 entries
    with pytest.raises(NonCanonicalError):
        decode_body(b"\xb8\x07" + body[1:])


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\xa7", id="truncated"),
        pytest.param(b"\xff", id="break"),
    ],
)
def test_malformed_body_is_rejected(data: bytes) -> None:
    with pytest.raises(EncodingError):
        decode_body(data)


def test_trailing_bytes_are_rejected() -> None:
    with pytest.raises(EncodingError):
        decode_body(encode(envelope(BLOB)) + b"\x00")
