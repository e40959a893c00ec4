"""Property tests: every valid manifest survives CBOR and JSON exactly."""

import json

from hypothesis import given, settings
from tests.strategies import manifests

from artifact_store.manifest import (
    Manifest,
    decode_manifest,
    encode_manifest,
    manifest_from_json,
    manifest_to_json,
)


@settings(max_examples=100)
@given(manifests())
def test_cbor_round_trip(m: Manifest) -> None:
    data = encode_manifest(m)
    decoded = decode_manifest(data)
    assert decoded == m
    assert encode_manifest(decoded) == data


@settings(max_examples=100)
@given(manifests())
def test_json_round_trip(m: Manifest) -> None:
    obj = manifest_to_json(m)
    assert manifest_from_json(obj) == m
    assert manifest_from_json(json.loads(json.dumps(obj))) == m
