"""Canonical CBOR (kernels.cbor): RFC 8949 Appendix A, every rejection rule, round trips, fuzz."""

import time
from collections import OrderedDict
from collections.abc import Callable
from enum import IntEnum, StrEnum
from types import MappingProxyType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.strategies import cbor_values

from artifact_store.errors import (
    EncodingError,
    LimitExceededError,
    NonCanonicalError,
    PayloadTooLargeError,
)
from artifact_store.kernels import cbor
from artifact_store.kernels.cbor import (
    CborValue,
    decode,
    decode_reference,
    encode,
    encode_reference,
)
from artifact_store.kernels.limits import CBOR_MAX_DEPTH, MAX_EVENT_BODY_BYTES, MAX_TEXT_BYTES


def same(left: object, right: object) -> bool:
    """Equal *and* of the same types all the way down (``True == 1`` in Python)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same, left, right))
    return left == right


def outcome(decoder: Callable[[bytes], CborValue], data: bytes) -> tuple[str, object]:
    """What a decoder does with ``data``: its value re-encoded, or the class of its error."""
    try:
        value = decoder(data)
    except (EncodingError, LimitExceededError) as exc:
        return "error", type(exc)
    return "value", encode_reference(value)


# --- RFC 8949 Appendix A -------------------------------------------------------------------

APPENDIX_A: list[tuple[str, CborValue]] = [
    ("00", 0),
    ("01", 1),
    ("0a", 10),
    ("17", 23),
    ("1818", 24),
    ("1819", 25),
    ("1864", 100),
    ("1903e8", 1000),
    ("1a000f4240", 1000000),
    ("1b000000e8d4a51000", 1000000000000),
    ("1bffffffffffffffff", 18446744073709551615),
    ("3bffffffffffffffff", -18446744073709551616),
    ("20", -1),
    ("29", -10),
    ("3863", -100),
    ("3903e7", -1000),
    ("f4", False),
    ("f5", True),
    ("f6", None),
    ("60", ""),
    ("6161", "a"),
    ("6449455446", "IETF"),
    ("62225c", '"\\'),
    ("62c3bc", "\u00fc"),
    ("63e6b0b4", "\u6c34"),
    ("64f0908591", "\U00010151"),
    ("80", []),
    ("83010203", [1, 2, 3]),
    ("8301820203820405", [1, [2, 3], [4, 5]]),
    ("98190102030405060708090a0b0c0d0e0f101112131415161718181819", list(range(1, 26))),
    ("a0", {}),
    ("a201020304", {1: 2, 3: 4}),
    ("a26161016162820203", {"a": 1, "b": [2, 3]}),
    ("826161a161626163", ["a", {"b": "c"}]),
    (
        "a56161614161626142616361436164614461656145",
        {"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"},
    ),
]


@pytest.mark.parametrize(("hex_", "value"), APPENDIX_A)
def test_appendix_a_encodes_to_the_rfc_bytes(hex_: str, value: CborValue) -> None:
    assert encode(value).hex() == hex_
    assert encode_reference(value).hex() == hex_


@pytest.mark.parametrize(("hex_", "value"), APPENDIX_A)
def test_appendix_a_decodes_to_the_rfc_value(hex_: str, value: CborValue) -> None:
    assert same(decode(bytes.fromhex(hex_)), value)
    assert same(decode_reference(bytes.fromhex(hex_)), value)


#: Appendix A items outside the data model, or in indefinite-length (non-canonical) form.
APPENDIX_A_REJECTED: list[tuple[str, type[EncodingError]]] = [
    *[
        (float_hex, EncodingError)
        for float_hex in [
            "f90000",
            "f98000",
            "f93c00",
            "fb3ff199999999999a",
            "f93e00",
            "f97bff",
            "fa47c35000",
            "fa7f7fffff",
            "fb7e37e43c8800759c",
            "f90001",
            "f90400",
            "f9c400",
            "fbc010666666666666",
            "f97c00",
            "f97e00",
            "f9fc00",
            "fa7f800000",
            "fa7fc00000",
            "faff800000",
            "fb7ff0000000000000",
            "fb7ff8000000000000",
            "fbfff0000000000000",
        ]
    ],
    ("c249010000000000000000", EncodingError),  # bignum 18446744073709551616
    ("c349010000000000000000", EncodingError),  # bignum -18446744073709551617
    ("f7", EncodingError),  # undefined
    ("f0", EncodingError),  # simple(16)
    ("f8ff", EncodingError),  # simple(255)
    ("c074323031332d30332d32315432303a30343a30305a", EncodingError),
    ("c11a514b67b0", EncodingError),
    ("c1fb41d452d9ec200000", EncodingError),
    ("d74401020304", EncodingError),
    ("d818456449455446", EncodingError),
    ("d82076687474703a2f2f7777772e6578616d706c652e636f6d", EncodingError),
    ("40", EncodingError),  # h''
    ("4401020304", EncodingError),
    ("5f42010243030405ff", EncodingError),  # indefinite byte string: bytes win
    ("7f657374726561646d696e67ff", NonCanonicalError),
    ("9fff", NonCanonicalError),
    ("9f018202039f0405ffff", NonCanonicalError),
    ("9f01820203820405ff", NonCanonicalError),
    ("83018202039f0405ff", NonCanonicalError),
    ("83019f0203ff820405", NonCanonicalError),
    ("9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff", NonCanonicalError),
    ("bf61610161629f0203ffff", NonCanonicalError),
    ("826161bf61626163ff", NonCanonicalError),
    ("bf6346756ef563416d7421ff", NonCanonicalError),
]


@pytest.mark.parametrize(("hex_", "error"), APPENDIX_A_REJECTED)
def test_appendix_a_outside_the_model_is_rejected(hex_: str, error: type[EncodingError]) -> None:
    with pytest.raises(error):
        decode(bytes.fromhex(hex_))
    with pytest.raises(error):
        decode_reference(bytes.fromhex(hex_))


# --- one rejected input per rule ------------------------------------------------------------

REJECTED: list[tuple[str, str, type[Exception]]] = [
    ("empty input", "", EncodingError),
    ("truncated argument", "19 01", EncodingError),
    ("truncated text", "62 61", EncodingError),
    ("truncated array", "82 01", EncodingError),
    ("map without its value", "a1 6161", EncodingError),
    ("indefinite array without break", "9f 01", EncodingError),
    ("trailing bytes", "00 00", EncodingError),
    ("non-shortest 1-byte argument", "18 17", NonCanonicalError),
    ("non-shortest 2-byte argument", "19 00ff", NonCanonicalError),
    ("non-shortest 4-byte argument", "1a 0000ffff", NonCanonicalError),
    ("non-shortest 8-byte argument", "1b 00000000ffffffff", NonCanonicalError),
    ("non-shortest negative", "38 00", NonCanonicalError),
    ("non-shortest text length", "78 01 61", NonCanonicalError),
    ("non-shortest array length", "98 00", NonCanonicalError),
    ("non-shortest map length", "b8 00", NonCanonicalError),
    ("indefinite text", "7f 6161 ff", NonCanonicalError),
    ("indefinite map", "bf 6161 01 ff", NonCanonicalError),
    ("indefinite text with a byte chunk", "7f 4161 ff", EncodingError),
    ("indefinite text with a nested indefinite chunk", "7f 7f ff ff", EncodingError),
    ("reserved AI 28", "1c", EncodingError),
    ("reserved AI 29", "3d", EncodingError),
    ("reserved AI 30", "7e", EncodingError),
    ("reserved AI 28 in major 7", "fc", EncodingError),
    ("AI 31 on an integer", "1f", EncodingError),
    ("lone break code", "ff", EncodingError),
    ("break code as a map value", "bf 6161 ff", EncodingError),
    ("tag 1", "c1 00", EncodingError),
    ("self-described CBOR tag", "d9d9f7 00", EncodingError),
    ("shareable tag 28", "d81c 80", EncodingError),
    ("byte string", "41 00", EncodingError),
    ("empty byte string", "40", EncodingError),
    ("half float", "f9 3c00", EncodingError),
    ("single float", "fa 3f800000", EncodingError),
    ("double float", "fb 3ff0000000000000", EncodingError),
    ("undefined", "f7", EncodingError),
    ("simple(0)", "e0", EncodingError),
    ("two-byte simple value", "f8 20", EncodingError),
    ("two-byte false", "f8 14", EncodingError),
    ("invalid UTF-8 start byte", "61 ff", EncodingError),
    ("UTF-8 surrogate", "63 eda080", EncodingError),
    ("overlong UTF-8", "62 c0af", EncodingError),
    ("UTF-8 above U+10FFFF", "64 f4908080", EncodingError),
    ("duplicate text keys", "a2 6161 00 6161 01", EncodingError),
    ("duplicate int keys", "a2 01 00 01 01", EncodingError),
    ("duplicate keys, one non-shortest", "a2 01 00 1801 01", EncodingError),
    ("unsorted text keys", "a2 6162 01 6161 00", NonCanonicalError),
    ("unsorted int keys", "a2 01 00 00 00", NonCanonicalError),
    # RFC 7049 length-first order: "a" (2 bytes) before 1000 (3 bytes); §4.2.1 wants 1000 first.
    ("length-first key order", "a2 6161 00 1903e8 00", NonCanonicalError),
    ("bool key", "a1 f5 00", EncodingError),
    ("null key", "a1 f6 00", EncodingError),
    ("array key", "a1 80 00", EncodingError),
    ("map key", "a1 a0 00", EncodingError),
    ("byte string key", "a1 4100 00", EncodingError),
    ("float key", "a1 f90000 00", EncodingError),
    ("array claims 2**32 items", "9b 0000000100000000", EncodingError),
    ("map claims 2**63 entries", "bb 7fffffffffffffff", EncodingError),
    ("text claims 2**64 - 1 bytes", "7b ffffffffffffffff", EncodingError),
    ("nesting deeper than the limit", "81" * (CBOR_MAX_DEPTH + 1) + "00", LimitExceededError),
    ("a map nested too deep", "a1 6161" * (CBOR_MAX_DEPTH + 1) + "00", LimitExceededError),
    # A non-canonical head before a malformed one: malformed wins, NonCanonical means well-formed.
    ("non-shortest, then truncated", "82 1817 62 61", EncodingError),
    ("non-shortest, then a float", "82 1817 f90000", EncodingError),
]


@pytest.mark.parametrize(
    ("hex_", "error"), [(h, e) for _, h, e in REJECTED], ids=[name for name, _, _ in REJECTED]
)
def test_rejected_inputs(hex_: str, error: type[Exception]) -> None:
    data = bytes.fromhex(hex_)
    with pytest.raises(error) as fast:
        decode(data)
    with pytest.raises(error) as reference:
        decode_reference(data)
    assert type(fast.value) is error
    assert str(fast.value) == str(reference.value)
    assert "\n" not in str(fast.value)


def test_depth_limit_is_inclusive_and_configurable() -> None:
    assert decode(bytes.fromhex("81" * CBOR_MAX_DEPTH + "00")) is not None
    assert decode(bytes.fromhex("818100"), max_depth=2) == [[0]]
    with pytest.raises(LimitExceededError):
        decode(bytes.fromhex("81818100"), max_depth=2)
    assert decode(bytes.fromhex("00"), max_depth=0) == 0
    with pytest.raises(LimitExceededError):
        decode(bytes.fromhex("80"), max_depth=0)


@pytest.mark.parametrize("max_depth", [-1, cbor.MAX_DEPTH_CEILING + 1])
def test_max_depth_outside_the_ceiling_is_a_programming_error(max_depth: int) -> None:
    with pytest.raises(ValueError, match="max_depth"):
        decode(b"\x00", max_depth=max_depth)


def test_input_larger_than_max_size_is_rejected() -> None:
    data = encode(["x" * 100])
    assert decode(data, max_size=len(data)) == ["x" * 100]
    with pytest.raises(PayloadTooLargeError):
        decode(data, max_size=len(data) - 1)
    with pytest.raises(PayloadTooLargeError):
        decode_reference(data, max_size=len(data) - 1)


def test_text_limit_applies_to_decode_and_encode() -> None:
    at_limit = "x" * MAX_TEXT_BYTES
    assert decode(encode({"k": at_limit})) == {"k": at_limit}
    over = "\U00010151" * (MAX_TEXT_BYTES // 4 + 1)  # few code points, too many UTF-8 bytes
    with pytest.raises(LimitExceededError):
        encode([over])
    with pytest.raises(LimitExceededError):
        encode({over: 1})
    big = b"\x81\x7a" + (MAX_TEXT_BYTES + 1).to_bytes(4) + b"x" * (MAX_TEXT_BYTES + 1)
    with pytest.raises(LimitExceededError):
        decode(big)
    with pytest.raises(LimitExceededError):
        decode_reference(big)


def test_large_documents_take_the_same_path_as_small_ones() -> None:
    value: CborValue = {"files": [{"path": f"dir/file-{i}", "size": i * 7919} for i in range(5000)]}
    data = encode(value)
    assert len(data) > MAX_TEXT_BYTES
    assert data == encode_reference(value)
    assert same(decode(data), value)


def test_encoding_longer_than_the_event_body_limit_is_rejected() -> None:
    value = ["x" * (60 << 10)] * (MAX_EVENT_BODY_BYTES // (60 << 10) + 1)
    with pytest.raises(PayloadTooLargeError):
        encode(value)


# --- denial of service ----------------------------------------------------------------------


@pytest.mark.parametrize("decoder", [decode, decode_reference])
def test_deep_nesting_fails_fast_without_recursion_error(
    decoder: Callable[[bytes], CborValue],
) -> None:
    data = b"\x81" * 100_000 + b"\x00"  # CVE-2026-26209
    started = time.perf_counter()
    with pytest.raises(LimitExceededError):
        decoder(data)
    assert time.perf_counter() - started < 0.5


def test_tags_are_refused_before_their_content_is_decoded() -> None:
    # Tag 30 (rational) over two 400 kB bignums: cbor2's built-in decoders spend ~12 s in gcd.
    bignum = b"\xc2\x5a" + (400_000).to_bytes(4) + b"\x9b" * 400_000
    data = b"\xd8\x1e\x82" + bignum + bignum
    started = time.perf_counter()
    with pytest.raises(EncodingError, match="tag"):
        decode(data)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("tag", [*range(300), 1004, 1100, 55799, 2**16 - 1, 2**32 - 1, 2**64 - 1])
def test_every_tag_is_refused(tag: int) -> None:
    if tag < 24:
        head = bytes([0xC0 | tag])
    else:
        size = next(n for n in (1, 2, 4, 8) if tag < 1 << (8 * n))
        head = bytes([0xC0 | {1: 24, 2: 25, 4: 26, 8: 27}[size]]) + tag.to_bytes(size)
    for content in (b"\x00", b"\x80", b"\xa0", b"\x61a", b"\x41\x00", b"\x82\x01\x02"):
        with pytest.raises(EncodingError, match="tags are not allowed"):
            decode(head + content)


def test_key_order_memo_stays_bounded() -> None:
    for i in range(3 * 1024):
        assert decode(encode({f"k{i}": 0, "a": 1})) == {"a": 1, f"k{i}": 0}
    encode({"x" * 2000: 1, "y": 2})
    assert len(cbor._KEY_ORDERS) <= 1024
    assert all(sum(map(len, keys)) <= 1024 for keys in cbor._KEY_ORDERS)  # type: ignore[arg-type]


# --- encoding -------------------------------------------------------------------------------


def test_bool_is_not_int() -> None:
    assert encode(True) == b"\xf5"
    assert encode(1) == b"\x01"
    assert encode([1, True, 0, False]) == bytes.fromhex("8401f500f4")
    assert encode({1: True}) == bytes.fromhex("a101f5")
    assert same(decode(bytes.fromhex("8401f500f4")), [1, True, 0, False])
    assert decode(b"\xf5") is True


@pytest.mark.parametrize("key", [True, False])
def test_bool_map_key_is_rejected(key: bool) -> None:
    with pytest.raises(EncodingError, match="bool"):
        encode({key: 1})  # type: ignore[arg-type]


def test_map_keys_sort_bytewise_not_length_first() -> None:
    value: CborValue = {"a": 0, 1000: 1, -1: 2, 1: 3, "aa": 4, "b": 5, "\u00e9": 6}
    expected = "a7 01 03 1903e8 01 20 02 6161 00 6162 05 6261 61 04 62c3a9 06"
    assert encode(value).hex() == expected.replace(" ", "")
    assert encode_reference(value).hex() == expected.replace(" ", "")
    assert same(decode(encode(value)), value)


def test_text_keys_sort_by_utf8_length_then_bytes() -> None:
    value = {"\u00e9": 1, "ab": 2, "z": 3, "\U00010151": 4, "abc": 5}
    assert list(decode(encode(value))) == ["z", "ab", "\u00e9", "abc", "\U00010151"]  # type: ignore[arg-type]
    assert encode(value) == encode_reference(value)


def test_other_sequences_and_mappings() -> None:
    class Color(StrEnum):
        RED = "red"

    class Level(IntEnum):
        HIGH = 3

    assert encode((1, (2, 3))) == encode([1, [2, 3]])
    assert encode(OrderedDict(b=1, a=2)) == encode({"a": 2, "b": 1})
    assert encode(MappingProxyType({"b": 1, "a": 2})) == encode({"a": 2, "b": 1})
    assert encode({Color.RED: Level.HIGH}) == encode({"red": 3})  # type: ignore[arg-type]
    assert same(decode(encode((1, (2,)))), [1, [2]])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.5, "float"),
        (b"x", "bytes"),
        (bytearray(b"x"), "bytearray"),
        (memoryview(b"x"), "memoryview"),
        ({1, 2}, "set"),
        (range(3), "range"),
        (object(), "object"),
        (2**64, r"above 2\*\*64 - 1"),
        (-(2**64) - 1, r"below -2\*\*64"),
        ({None: 1}, "NoneType"),
        ({(1, 2): 1}, "tuple"),
        ({1.0: 1}, "float"),
        ("\ud800", "surrogate"),
        ({"k\udfff": 1}, "surrogate"),
        ({"a": [1, {"b": 1.5}]}, r"\$\['a'\]\[1\]\['b'\]: float"),
    ],
)
def test_values_outside_the_model_are_rejected(value: object, message: str) -> None:
    with pytest.raises(EncodingError, match=message) as fast:
        encode(value)  # type: ignore[arg-type]
    with pytest.raises(EncodingError) as reference:
        encode_reference(value)  # type: ignore[arg-type]
    assert type(fast.value) is EncodingError
    assert str(fast.value) == str(reference.value)


def test_nesting_and_cycles_hit_the_depth_limit() -> None:
    deep: CborValue = 0
    for _ in range(CBOR_MAX_DEPTH):
        deep = [deep]
    assert decode(encode(deep)) == deep
    with pytest.raises(LimitExceededError):
        encode([deep])
    cycle: list[object] = []
    cycle.append(cycle)
    with pytest.raises(LimitExceededError):
        encode(cycle)  # type: ignore[arg-type]


def test_decode_accepts_any_bytes_like() -> None:
    data = encode({"a": [1, "b"]})
    assert decode(bytearray(data)) == decode(memoryview(data)) == {"a": [1, "b"]}


# --- properties -----------------------------------------------------------------------------


@given(cbor_values())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip(value: CborValue) -> None:
    data = encode(value)
    assert data == encode_reference(value)
    assert same(decode(data), value)
    assert same(decode_reference(data), value)


def _assert_strict(data: bytes) -> None:
    """Either an error of the two allowed families, or the input is its own canonical form."""
    try:
        value = decode(data)
    except (EncodingError, LimitExceededError):
        pass  # any other exception fails the test
    else:
        assert encode(value) == data
    assert outcome(decode, data) == outcome(decode_reference, data)


@given(st.binary(max_size=40))
@settings(max_examples=300)
def test_arbitrary_bytes_decode_strictly(data: bytes) -> None:
    _assert_strict(data)


_INTERESTING = [0x00, 0x17, 0x18, 0x19, 0x1B, 0x1C, 0x1F, 0x40, 0x60, 0x7F, 0x80, 0x9F, 0xA0,
                0xBF, 0xC0, 0xC2, 0xD8, 0xF4, 0xF5, 0xF6, 0xF7, 0xF9, 0xFB, 0xFF]  # fmt: skip


_SMALL_VALUES = cbor_values(max_leaves=8)


@st.composite
def mutated_encodings(draw: st.DrawFn) -> bytes:
    """The encoding of a model value, with one to three bytes flipped, inserted or removed."""
    data = bytearray(encode(draw(_SMALL_VALUES)))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        byte = draw(st.sampled_from(_INTERESTING) | st.integers(0, 255))
        match draw(st.sampled_from(["replace", "insert", "delete", "truncate", "xor"])):
            case "replace" if at < len(data):
                data[at] = byte
            case "insert":
                data.insert(at, byte)
            case "delete" if at < len(data):
                del data[at]
            case "truncate":
                del data[at:]
            case "xor" if at < len(data):
                data[at] ^= 1 << draw(st.integers(0, 7))
            case _:
                data.append(byte)
    return bytes(data)


@given(mutated_encodings())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_encodings_decode_strictly(data: bytes) -> None:
    _assert_strict(data)


@given(_SMALL_VALUES, st.sampled_from([b"\xa2", b"\xb8\x02"]))
@settings(max_examples=100)
def test_swapped_map_entries_are_non_canonical(value: CborValue, head: bytes) -> None:
    first, second = encode({"a": value}), encode({"b": value})
    data = head + second[1:] + first[1:]
    with pytest.raises(NonCanonicalError):
        decode(data)
