"""Canonical CBOR: RFC 8949 §4.2.1 core deterministic encoding over a small, strict data model.

Manifests and event bodies are stored, hashed and chained as CBOR, so one value must have exactly
one encoding, and bytes from outside must be either that encoding or an error (ADR-0003: same
logical manifest, same bytes, same digest). Replaying the log (invariant 3) decodes every event
body, so decoding is on the hot path.

Data model: ``None``, ``False``, ``True``, integers from ``-2**64`` to ``2**64 - 1`` (major
types 0 and 1), text strings, arrays, and maps whose keys are text or integers. There are no
floats, byte strings, tags (so no bignums), ``undefined``, other simple values or indefinite
lengths. ``bool`` is never confused with ``int``: ``True`` is ``0xf5``, never ``0x01``, and a
bool is not a valid map key. Texts are at most ``MAX_TEXT_BYTES`` of UTF-8 and nesting is at
most ``CBOR_MAX_DEPTH`` containers deep on both sides, so whatever :func:`encode` produces,
:func:`decode` accepts.

Theory of operation
-------------------
The reference codec is plain Python. :func:`encode_reference` writes the shortest argument
form, definite lengths, and map entries sorted by the bytewise order of their encoded keys
(§4.2.1; not the length-first order of RFC 7049 §3.9, which differs once a map mixes key
types). :func:`decode_reference` is one recursive reader over ``bytes`` that checks every length
claim against the bytes that remain before it reads or allocates, and counts depth before it
descends, so a 100 000-deep ``0x81`` prefix fails at depth 17, never with ``RecursionError``.
It reads the whole item before it reports a non-canonical finding, so ``NonCanonicalError``
always means well-formed and within the model; any malformation anywhere wins as
``EncodingError``.

:func:`encode` and :func:`decode` put cbor2's compiled codec in front for the common shape
(maps keyed by text only) and hand everything else, and every error, to the reference code, so
results and messages come from one place:

- :func:`encode` copies the value with each map in §4.2.1 order (:func:`_prepared`, which also
  checks types and ranges), then lets ``cbor2.dumps`` write it in that insertion order. cbor2's
  own ``canonical=True`` is not used: it sorts length-first and is slower.
- :func:`decode` lets ``cbor2.loads`` parse with text-only map keys (no attacker-chosen hash
  collisions) and every tag refused before its content is read (cbor2 otherwise runs built-in
  tag decoders: tag 30 over two 400 kB bignums takes 12 s in ``Fraction``). The result is
  accepted only when :func:`_canonical` holds (model types, depth, map keys in order) and
  ``cbor2.dumps`` gives back exactly the input; the input then *is* the canonical encoding of a
  model value, which is precisely what the reference decoder accepts.

The §4.2.1 order of a map's text keys is memoised by key tuple (:func:`_key_order`): event
bodies reuse a few key sets, and a hit costs one tuple hash instead of two sorts.

This is one file of some 700 lines on purpose: the fast path is sound only relative to the
reference codec beside it, so the two must be read, and changed, together.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Final, NoReturn

import cbor2

from artifact_store.errors import (
    ArtifactStoreError,
    EncodingError,
    LimitExceededError,
    NonCanonicalError,
)
from artifact_store.kernels.limits import (
    CBOR_MAX_DEPTH,
    MAX_EVENT_BODY_BYTES,
    MAX_TEXT_BYTES,
    check_limit,
    check_size,
)

__all__ = [
    "decode_trusted",
    "CborInput",
    "CborKey",
    "CborValue",
    "MAX_DEPTH_CEILING",
    "decode",
    "decode_reference",
    "encode",
    "encode_reference",
]

type CborKey = str | int
#: What :func:`decode` returns.
type CborValue = bool | int | str | list[CborValue] | dict[CborKey, CborValue] | None
#: What :func:`encode` takes: also tuples and any ``Mapping`` (other sequences are refused at
#: run time), typed covariantly so that a ``dict[str, str]`` is accepted.
type CborInput = (
    bool
    | int
    | str
    | Sequence[CborInput]
    | Mapping[str, CborInput]
    | Mapping[int, CborInput]
    | Mapping[CborKey, CborInput]
    | None
)

#: Largest ``max_depth`` :func:`decode` allows: the reference decoder recurses once per level.
MAX_DEPTH_CEILING: Final = 200

_UINT_MAX: Final = (1 << 64) - 1
_NINT_MIN: Final = -(1 << 64)
#: Smallest argument that needs each additional-information size (§4.2.1 "preferred").
_SHORTEST: Final = {24: 24, 25: 1 << 8, 26: 1 << 16, 27: 1 << 32}
_MAJOR_NAMES: Final = ("integer", "negative integer", "byte string", "text string", "array",
                       "map", "tag", "simple value")  # fmt: skip
_HEAD1: Final = tuple(bytes((b,)) for b in range(256))
_PACK_B: Final = struct.Struct(">BB").pack
_PACK_H: Final = struct.Struct(">BH").pack
_PACK_I: Final = struct.Struct(">BI").pack
_PACK_Q: Final = struct.Struct(">BQ").pack
_cbor2_dumps = cbor2.dumps
_cbor2_loads = cbor2.loads


def _count(number: int, noun: str) -> str:
    if number == 1:
        return f"1 {noun}"
    return f"{number} {noun[:-1] + 'ies' if noun.endswith('y') else noun + 's'}"


def _describe(initial: int) -> str:
    """What an initial byte starts, for messages: ``an array``, ``true``, ``a float``."""
    simple = {0xF4: "false", 0xF5: "true", 0xF6: "null", 0xF7: "undefined"}.get(initial)
    if simple is not None:
        return simple
    if initial >> 5 != 7:
        name = _MAJOR_NAMES[initial >> 5]
        return f"{'an' if name[0] in 'ai' else 'a'} {name}"
    return "a float" if 25 <= initial & 0x1F <= 27 else "a simple value"


# --- encoding ------------------------------------------------------------------------------


def _head(major: int, argument: int) -> bytes:
    """The initial byte and argument of an item, in the shortest form (§4.2.1)."""
    if argument < 24:
        return _HEAD1[major | argument]
    if argument <= 0xFF:
        return _PACK_B(major | 24, argument)
    if argument <= 0xFFFF:
        return _PACK_H(major | 25, argument)
    if argument <= 0xFFFFFFFF:
        return _PACK_I(major | 26, argument)
    return _PACK_Q(major | 27, argument)


class _Fault(Exception):  # noqa: N818 - internal carrier, never escapes this module
    """An encoding error on its way out, collecting the path to the bad value as it unwinds."""

    def __init__(self, error: ArtifactStoreError) -> None:
        super().__init__(error.message)
        self.error = error
        self.path: list[str] = []  # innermost segment first


def _fail(message: str) -> NoReturn:
    raise _Fault(EncodingError(message))


def _text(text: str, max_text: int) -> bytes:
    try:
        raw = str.encode(text, "utf-8")
    except UnicodeEncodeError as exc:
        _fail(f"text is not encodable as UTF-8 ({exc.reason} at index {exc.start})")
    try:
        check_limit("cbor_text_bytes", len(raw), max_text)
    except LimitExceededError as exc:
        raise _Fault(exc) from None
    return _head(0x60, len(raw)) + raw


def _int(value: int) -> bytes:
    if value >= 0:
        if value > _UINT_MAX:
            _fail(f"integer {value} is above 2**64 - 1 (bignums are not allowed)")
        return _head(0x00, value)
    if value < _NINT_MIN:
        _fail(f"integer {value} is below -2**64 (bignums are not allowed)")
    return _head(0x20, -1 - value)


def _key(key: object, max_text: int) -> bytes:
    if isinstance(key, str):
        return _text(key, max_text)
    if isinstance(key, int) and not isinstance(key, bool):
        return _int(int(key))
    _fail(f"map key of type {type(key).__name__} is not allowed (only text and integers)")


def _segment(key: object) -> str:
    shown = repr(key)
    return f"[{shown if len(shown) <= 40 else shown[:37] + '...'}]"


def _encode(value: object, room: int, max_text: int) -> bytes:
    """Encode ``value`` with ``room`` more containers allowed below this point."""
    if isinstance(value, str):
        return _text(value, max_text)
    if isinstance(value, bool):  # before int: bool is a subclass of int
        return b"\xf5" if value else b"\xf4"
    if isinstance(value, int):
        return _int(int(value))
    if value is None:
        return b"\xf6"
    if not isinstance(value, (list, tuple, Mapping)):
        _fail(f"{type(value).__name__} is not in the CBOR data model")
    if room <= 0:
        try:
            check_limit("cbor_depth", CBOR_MAX_DEPTH - room + 1, CBOR_MAX_DEPTH)
        except LimitExceededError as exc:
            raise _Fault(exc) from None
    if isinstance(value, Mapping):
        return _encode_map(value, room - 1, max_text)
    parts = [_head(0x80, len(value))]
    for index, item in enumerate(value):
        try:
            parts.append(_encode(item, room - 1, max_text))
        except _Fault as fault:
            fault.path.append(f"[{index}]")
            raise
    return b"".join(parts)


def _encode_map(value: Mapping[object, object], room: int, max_text: int) -> bytes:
    entries: list[tuple[bytes, bytes]] = []
    for key, item in value.items():
        try:
            entries.append((_key(key, max_text), _encode(item, room, max_text)))
        except _Fault as fault:
            fault.path.append(_segment(key))
            raise
    entries.sort()  # §4.2.1: bytewise order of the encoded keys
    for (before, _), (after, _) in itertools.pairwise(entries):
        if before == after:
            _fail(f"two map keys encode the same ({before.hex()})")
    return _head(0xA0, len(entries)) + b"".join(key + item for key, item in entries)


def encode_reference(value: CborInput) -> bytes:
    """Encode ``value`` in canonical CBOR with the pure-Python reference encoder.

    Same contract as :func:`encode`, which is faster and should be preferred.

    Raises:
        EncodingError: a value outside the data model, naming its type and path.
        LimitExceededError: nesting deeper than ``CBOR_MAX_DEPTH`` (including a cycle) or a
            text longer than ``MAX_TEXT_BYTES``.
        PayloadTooLargeError: the encoding is longer than ``MAX_EVENT_BODY_BYTES``.
    """
    try:
        out = _encode(value, CBOR_MAX_DEPTH, MAX_TEXT_BYTES)
    except _Fault as fault:
        error = fault.error
        path = "$" + "".join(reversed(fault.path))
        message = f"cannot encode {path}: {error.message}"
        raise type(error)(message, **error.extra, path=path) from None
    check_size("cbor_encoded_bytes", len(out), MAX_EVENT_BODY_BYTES)
    return out


# --- decoding ------------------------------------------------------------------------------


class _Reader:
    """One pass of the reference decoder over ``data``."""

    __slots__ = ("data", "end", "max_depth", "max_text", "noncanonical")

    def __init__(self, data: bytes, max_depth: int, max_text: int) -> None:
        self.data = data
        self.end = len(data)
        self.max_depth = max_depth
        self.max_text = max_text
        self.noncanonical: str | None = None  # the first finding, raised once all is read

    def non_canonical(self, message: str) -> None:
        if self.noncanonical is None:
            self.noncanonical = message

    def truncated(self, what: str, offset: int, needed: int) -> NoReturn:
        """Raise for ``what``, which needs ``needed`` bytes from ``offset`` on."""
        remaining = max(self.end - offset, 0)
        raise EncodingError(
            f"truncated input: {what} needs at least {_count(needed, 'byte')} from offset {offset},"
            f" {remaining} remain",
            offset=offset,
        )

    def argument(self, offset: int) -> tuple[int, int]:
        """Read the argument of the item at ``offset``; return it and the offset after it."""
        info = self.data[offset] & 0x1F
        if info < 24:
            return info, offset + 1
        if info > 27:
            raise EncodingError(
                f"reserved additional information {info} at offset {offset}", offset=offset
            )
        size = 1 << (info - 24)
        start = offset + 1
        if start + size > self.end:
            self.truncated(f"the argument of the item at offset {offset}", start, size)
        argument = int.from_bytes(self.data[start : start + size])
        if argument < _SHORTEST[info]:
            self.non_canonical(
                f"non-shortest argument at offset {offset}: {argument} encoded in"
                f" {_count(size, 'byte')}"
            )
        return argument, start + size

    def item(self, offset: int, depth: int) -> tuple[CborValue, int]:
        """Decode the item at ``offset`` inside ``depth`` containers; return it and its end."""
        if offset >= self.end:
            self.truncated("a data item", offset, 1)
        initial = self.data[offset]
        major = initial >> 5
        if major == 7:
            return self.simple(initial, offset), offset + 1
        if major in {2, 6}:
            name = _MAJOR_NAMES[major]
            raise EncodingError(
                f"{name}s are not allowed ({name} at offset {offset})", offset=offset
            )
        if initial & 0x1F == 31:
            return self.indefinite(major, offset, depth)
        argument, start = self.argument(offset)
        if major < 2:
            return (argument if major == 0 else -1 - argument), start
        if major == 3:
            return self.text(argument, start, offset), start + argument
        return self.container(major == 5, argument, start, depth + 1)

    def container(self, is_map: bool, count: int, start: int, depth: int) -> tuple[CborValue, int]:
        """Decode the ``count`` items or entries of a definite-length array or map."""
        check_limit("cbor_depth", depth, self.max_depth)
        remaining = self.end - start
        if not is_map:
            if count > remaining:  # every item takes at least one byte: fail before allocating
                self.truncated(f"an array of {_count(count, 'item')}", start, count)
            items: list[CborValue] = []
            for _ in range(count):
                value, start = self.item(start, depth)
                items.append(value)
            return items, start
        if count > remaining >> 1:  # every entry takes at least two bytes
            self.truncated(f"a map of {_count(count, 'entry')}", start, 2 * count)
        result: dict[CborKey, CborValue] = {}
        previous = b""
        for _ in range(count):
            key_offset = start
            key, start = self.key(start, depth)
            encoded_key = self.data[key_offset:start]
            value, start = self.item(start, depth)
            self.put(result, key, value, key_offset)
            if encoded_key <= previous:  # §4.2.1: bytewise order of the encoded keys
                self.non_canonical(f"map keys out of order at offset {key_offset}")
            previous = encoded_key
        return result, start

    def key(self, offset: int, depth: int) -> tuple[CborKey, int]:
        """Decode a map key, which must be a text string or an integer."""
        if offset >= self.end:
            self.truncated("a map key", offset, 1)
        major = self.data[offset] >> 5
        if major not in (0, 1, 3):
            raise EncodingError(
                f"map key at offset {offset} is {_describe(self.data[offset])}"
                " (only text and integers are allowed)",
                offset=offset,
            )
        key, end = self.item(offset, depth)
        return key, end  # type: ignore[return-value]  # majors 0, 1, 3 give int or str

    @staticmethod
    def put(result: dict[CborKey, CborValue], key: CborKey, value: CborValue, at: int) -> None:
        if key in result:  # keys are str or int, never bool, so 1 and True cannot collide
            raise EncodingError(f"duplicate map key {key!r} at offset {at}", offset=at)
        result[key] = value

    def text(self, size: int, start: int, offset: int) -> str:
        if start + size > self.end:
            self.truncated(f"the text string at offset {offset}", start, size)
        check_limit("cbor_text_bytes", size, self.max_text)
        try:
            return self.data[start : start + size].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EncodingError(
                f"invalid UTF-8 in the text string at offset {offset}: {exc.reason}",
                offset=offset,
            ) from None

    def simple(self, initial: int, offset: int) -> CborValue:
        if initial == 0xF4:
            return False
        if initial == 0xF5:
            return True
        if initial == 0xF6:
            return None
        info = initial & 0x1F
        if info == 31:
            what = "unexpected break code"
        elif info > 27:
            what = f"reserved additional information {info}"
        elif info > 24:
            what = "floating-point numbers are not allowed"
        elif initial == 0xF7:
            what = "undefined is not allowed"
        else:
            what = "simple values other than false, true and null are not allowed"
        raise EncodingError(f"{what} (byte 0x{initial:02x} at offset {offset})", offset=offset)

    def indefinite(self, major: int, offset: int, depth: int) -> tuple[CborValue, int]:
        """Decode an indefinite-length item in full, then record it as non-canonical."""
        if major < 2:
            raise EncodingError(
                f"additional information 31 is not valid for an integer (offset {offset})",
                offset=offset,
            )
        self.non_canonical(f"indefinite-length {_MAJOR_NAMES[major]} at offset {offset}")
        start = offset + 1
        if major == 3:
            chunks: list[str] = []
            size = 0
            while not self.at_break(start):
                initial = self.data[start]
                if initial >> 5 != 3 or initial == 0x7F:  # §3.2.3: definite text chunks only
                    raise EncodingError(
                        f"chunk at offset {start} of an indefinite-length text string"
                        " is not a definite-length text string",
                        offset=start,
                    )
                argument, chunk_start = self.argument(start)
                chunks.append(self.text(argument, chunk_start, start))
                size += argument
                check_limit("cbor_text_bytes", size, self.max_text)
                start = chunk_start + argument
            return "".join(chunks), start + 1
        depth += 1
        check_limit("cbor_depth", depth, self.max_depth)
        if major == 4:
            items: list[CborValue] = []
            while not self.at_break(start):
                value, start = self.item(start, depth)
                items.append(value)
            return items, start + 1
        result: dict[CborKey, CborValue] = {}
        while not self.at_break(start):
            key_offset = start
            key, start = self.key(start, depth)
            value, start = self.item(start, depth)
            self.put(result, key, value, key_offset)
        return result, start + 1

    def at_break(self, offset: int) -> bool:
        """True at the break code that ends an indefinite-length item."""
        if offset >= self.end:
            self.truncated("an indefinite-length item (an item or a break code)", offset, 1)
        return self.data[offset] == 0xFF


def decode_reference(
    data: bytes | bytearray | memoryview,
    *,
    max_size: int = MAX_EVENT_BODY_BYTES,
    max_depth: int = CBOR_MAX_DEPTH,
) -> CborValue:
    """Decode canonical CBOR with the pure-Python reference decoder.

    Same contract as :func:`decode`, which is faster and should be preferred.
    """
    data = _check_input(data, max_size, max_depth)
    return _decode_reference(data, max_depth)


def _check_input(data: bytes | bytearray | memoryview, max_size: int, max_depth: int) -> bytes:
    if not 0 <= max_depth <= MAX_DEPTH_CEILING:
        msg = f"max_depth must be in 0..{MAX_DEPTH_CEILING}, got {max_depth}"
        raise ValueError(msg)
    if not isinstance(data, bytes):
        data = bytes(data)
    check_size("cbor_input_bytes", len(data), max_size)
    return data


def _decode_reference(data: bytes, max_depth: int) -> CborValue:
    reader = _Reader(data, max_depth, MAX_TEXT_BYTES)
    value, end = reader.item(0, 0)
    if end != len(data):
        raise EncodingError(
            f"{_count(len(data) - end, 'trailing byte')} after the data item, at offset {end}",
            offset=end,
        )
    if reader.noncanonical is not None:
        raise NonCanonicalError(reader.noncanonical)
    return value


# --- the fast path ---------------------------------------------------------------------------

#: §4.2.1 order of the keys of text-keyed maps, by key tuple in insertion (or wire) order.
_KEY_ORDERS: dict[tuple[object, ...], tuple[str, ...]] = {}
_KEY_ORDERS_SIZE: Final = 1024
#: Only key sets this short (in code points, all keys together) are memoised.
_KEY_ORDERS_KEY_CHARS: Final = 1024
_SCALARS: Final = frozenset((str, int, bool, type(None)))


class _Slow(Exception):  # noqa: N818 - control flow inside this module only
    """Raised by :func:`_prepared` when the value needs the reference encoder."""


_SLOW: Final = _Slow()


def _utf8_size(text: str) -> int:
    return len(text.encode())


def _key_order(keys: tuple[object, ...]) -> tuple[str, ...] | None:
    """The §4.2.1 order of ``keys`` if they are all exact ``str`` and valid Unicode, else None.

    Encoded text keys compare bytewise as (UTF-8 length, UTF-8 bytes), and UTF-8 preserves code
    point order, so two stable sorts do it without encoding anything when the keys are ASCII.
    """
    order = _KEY_ORDERS.get(keys)
    if order is not None:
        return order
    for key in keys:
        if type(key) is not str:
            return None
    text_keys: tuple[str, ...] = keys  # type: ignore[assignment]  # checked just above
    ordered = sorted(text_keys)
    joined = "".join(text_keys)
    try:
        ordered.sort(key=len if joined.isascii() else _utf8_size)
    except UnicodeEncodeError:  # a lone surrogate: the reference encoder reports it
        return None
    order = tuple(ordered)
    if len(joined) <= _KEY_ORDERS_KEY_CHARS:
        if len(_KEY_ORDERS) >= _KEY_ORDERS_SIZE:
            _KEY_ORDERS.clear()  # bounded memory, whatever key sets callers or peers send
        _KEY_ORDERS[keys] = order
    return order


def _prepared(value: object, room: int) -> object:
    """A copy of ``value`` with every map in §4.2.1 order, for ``cbor2.dumps`` to write as is.

    Raises:
        _Slow: anything but exact builtin types, ints in range, text-keyed maps, ``room`` more
            levels; text sizes are checked by the caller.
    """
    if type(value) is dict:
        if room <= 0:
            raise _SLOW
        order = _key_order(tuple(value))
        if order is None:
            raise _SLOW
        copy: dict[str, object] = {}
        for key in order:
            item = value[key]
            if type(item) is int:
                if not _NINT_MIN <= item <= _UINT_MAX:
                    raise _SLOW
            elif type(item) is not str and type(item) is not bool and item is not None:
                item = _prepared(item, room - 1)
            copy[key] = item
        return copy
    if type(value) is list or type(value) is tuple:
        if room <= 0:
            raise _SLOW
        return [_prepared(item, room - 1) for item in value]
    if type(value) is int:
        if not _NINT_MIN <= value <= _UINT_MAX:
            raise _SLOW
        return value
    if type(value) is str or type(value) is bool or value is None:
        return value
    raise _SLOW


def _canonical(value: object, room: int) -> bool:
    """True when a value from ``cbor2.loads`` is in the model with every map in §4.2.1 order.

    Integers need no range check: without tags, cbor2 cannot produce one out of range.
    """
    items: Iterable[object]
    if type(value) is dict:
        keys = tuple(value)  # in wire order
        if room <= 0 or _key_order(keys) != keys:
            return False
        items = value.values()
    elif type(value) is list:
        if room <= 0:
            return False
        items = value
    else:
        return type(value) in _SCALARS
    for item in items:
        kind = type(item)
        if kind is dict or kind is list:
            if not _canonical(item, room - 1):
                return False
        elif kind not in _SCALARS:
            return False
    return True


def _texts_fit(value: object) -> bool:
    """True when every text in ``value`` (a plain model value) is within ``MAX_TEXT_BYTES``."""
    if type(value) is str:
        return len(value) << 2 <= MAX_TEXT_BYTES or _utf8_size(value) <= MAX_TEXT_BYTES
    if type(value) is dict:
        return all(_texts_fit(key) and _texts_fit(item) for key, item in value.items())
    if type(value) is list:
        return all(_texts_fit(item) for item in value)
    return True


def encode(value: CborInput) -> bytes:
    """Encode ``value`` in RFC 8949 §4.2.1 core deterministic (canonical) CBOR.

    Lists and tuples become arrays; dicts and other mappings become maps, sorted by the bytewise
    order of their encoded keys. ``decode(encode(value)) == value`` for every value this accepts.

    Raises:
        EncodingError: a value outside the data model (a float, bytes, a set, an integer outside
            ``-2**64 .. 2**64 - 1``, a key that is not text or an integer, a lone surrogate),
            naming its type and its path, such as ``$['files'][3]['size']``.
        LimitExceededError: nesting deeper than ``CBOR_MAX_DEPTH`` (a cycle included) or a text
            longer than ``MAX_TEXT_BYTES``.
        PayloadTooLargeError: an encoding longer than ``MAX_EVENT_BODY_BYTES``.
    """
    try:
        prepared = _prepared(value, CBOR_MAX_DEPTH)
        out: bytes = _cbor2_dumps(prepared)
    except Exception:  # _Slow, or a lone surrogate: the reference encoder names the problem
        return encode_reference(value)
    if len(out) <= MAX_TEXT_BYTES or (
        len(out) <= MAX_EVENT_BODY_BYTES and _texts_fit(prepared)
    ):  # no text can be longer than the whole encoding
        return out
    return encode_reference(value)


def _refuse_tag(*_args: object) -> NoReturn:
    msg = "tags are not allowed"  # cbor2 wraps this; the reference decoder names the offset
    raise ValueError(msg)


class _RefuseAllTags(Mapping[int, Callable[..., NoReturn]]):
    """A cbor2 semantic-decoder table that claims every tag, so no built-in tag decoder runs."""

    def __getitem__(self, tag: int) -> Callable[..., NoReturn]:
        return _refuse_tag

    def __contains__(self, tag: object) -> bool:
        return True

    def __iter__(self) -> Iterator[int]:
        return iter(())

    def __len__(self) -> int:
        return 0


_REFUSE_ALL_TAGS: Final = _RefuseAllTags()


def decode(
    data: bytes | bytearray | memoryview,
    *,
    max_size: int = MAX_EVENT_BODY_BYTES,
    max_depth: int = CBOR_MAX_DEPTH,
) -> CborValue:
    """Decode bytes that must be the canonical CBOR encoding of a value in the data model.

    Maps come back as ``dict``, arrays as ``list``. For every accepted input,
    ``encode(decode(data)) == data``.

    Raises:
        EncodingError: malformed or truncated input, trailing bytes, a type outside the model
            (byte string, tag, float, undefined, other simple values), invalid UTF-8, a
            duplicate map key, a map key that is not text or an integer.
        NonCanonicalError: well-formed, but not §4.2.1: a non-shortest argument, an
            indefinite length, map keys out of order.
        LimitExceededError: nesting deeper than ``max_depth``, a text longer than
            ``MAX_TEXT_BYTES``.
        PayloadTooLargeError: ``data`` longer than ``max_size``.
        ValueError: ``max_depth`` outside ``0..MAX_DEPTH_CEILING`` (a programming error).
    """
    data = _check_input(data, max_size, max_depth)
    try:
        value = _cbor2_loads(
            data,
            max_depth=max_depth,
            allow_indefinite=False,
            strict_hashable_types=True,  # text keys only: no crafted hash collisions
            semantic_decoders=_REFUSE_ALL_TAGS,
            tag_hook=_refuse_tag,
        )
    except Exception:  # any refusal: the reference decoder finds and names the problem
        return _decode_reference(data, max_depth)
    if (
        _canonical(value, max_depth)
        and _cbor2_dumps(value) == data  # shortest forms, nothing trailing
        and (len(data) <= MAX_TEXT_BYTES or _texts_fit(value))
    ):
        return value  # type: ignore[no-any-return]  # a model value, as _canonical checked
    return _decode_reference(data, max_depth)


def decode_trusted(data: bytes) -> object:
    """Decode bytes this library encoded itself and that are known intact (event bodies whose
    hash chain was just verified), skipping the canonical-form re-check.

    Only the event-log replay uses this; anything from outside goes through :func:`decode`.
    The depth is still bounded. Tags are not looked for: the encoder never writes one, and
    refusing them cost a third of the decode (a tag could only come from someone who rewrote
    the whole chain, and would then decode to a value of a type the caller rejects).

    Raises:
        EncodingError: the bytes do not parse.
    """
    try:
        return _cbor2_loads(data, max_depth=CBOR_MAX_DEPTH)
    except Exception as exc:  # cbor2 raises its own decode errors
        raise EncodingError(f"malformed CBOR in a trusted body: {exc}"[:200]) from exc
