"""Hypothesis strategies shared by the test suite (attrs keeps its strategies the same way)."""

import unicodedata
from datetime import UTC, datetime

from hypothesis import strategies as st

from artifact_store.errors import InvalidPathError
from artifact_store.kernels.cbor import CborValue
from artifact_store.kernels.clock import format_time
from artifact_store.kernels.limits import MAX_BLOB_SIZE
from artifact_store.kernels.paths import validate_path
from artifact_store.manifest import FileEntry, Link, Manifest, Producer

# --- manifests ---------------------------------------------------------------------------------

#: Text a producer field, label value or annotation key may hold: no controls, no surrogates.
_plain_text = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=12)
#: Any valid Unicode text (annotation values may hold newlines and tabs).
_any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=24)
_hex64 = st.binary(min_size=32, max_size=32).map(bytes.hex)
#: 9999-12-31T23:59:59Z, the last second RFC 3339's four-digit year can write.
_LAST_SECOND = 253_402_300_799
_package_digests = _hex64.map(lambda hexpart: f"sha256:{hexpart}")


def _path_or_none(text: str) -> str | None:
    try:
        return validate_path(text)
    except InvalidPathError:
        return None


_path_segments = st.text(
    st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="/\\"),
    min_size=1,
    max_size=8,
).map(lambda segment: unicodedata.normalize("NFC", segment))
_file_paths = (
    st.lists(_path_segments, min_size=1, max_size=3)
    .map(lambda segments: _path_or_none("/".join(segments)))
    .filter(lambda path: path is not None)
    .map(str)
)


def _extractable(candidates: list[str]) -> list[str]:
    """Sorted unique paths, dropping each that is also a directory of another."""
    unique = sorted(set(candidates))
    directories = {path[:i] for path in unique for i, ch in enumerate(path) if ch == "/"}
    return [path for path in unique if path not in directories]


@st.composite
def _file_entries(draw: st.DrawFn, path: str) -> FileEntry:
    return FileEntry(
        path=path,
        size=draw(st.integers(0, MAX_BLOB_SIZE)),
        sha256=draw(_hex64),
        blake3=draw(_hex64),
        media_type=draw(
            st.sampled_from(["application/octet-stream", "text/plain", "application/json"])
            | st.from_regex(r"[a-z0-9]{1,8}/[a-z0-9][a-z0-9.+-]{0,12}", fullmatch=True)
        ),
        executable=draw(st.booleans()),
    )


@st.composite
def manifests(draw: st.DrawFn, *, max_files: int = 6) -> Manifest:
    """Valid schema-1 manifests, with every optional field sometimes present."""
    paths = _extractable(draw(st.lists(_file_paths, max_size=max_files)))
    optional_text = st.none() | _plain_text.filter(bool)
    links = draw(
        st.lists(
            st.builds(
                Link, st.from_regex(r"[a-z0-9][a-z0-9._-]{0,10}", fullmatch=True), _package_digests
            ),
            max_size=3,
            unique_by=lambda link: (link.rel, link.target),
        )
    )
    created = datetime.fromtimestamp(draw(st.integers(0, _LAST_SECOND)), tz=UTC).replace(
        microsecond=draw(st.sampled_from([0, 500000]) | st.integers(0, 999_999))
    )
    return Manifest(
        namespace=draw(
            st.from_regex(
                r"[a-z0-9]{1,6}([._-][a-z0-9]{1,4})?(/[a-z0-9]{1,6}){0,2}", fullmatch=True
            )
        ),
        name=draw(st.from_regex(r"[a-z0-9]{1,8}([._-][a-z0-9]{1,4}){0,2}", fullmatch=True)),
        version=draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,15}", fullmatch=True)),
        kind=draw(st.from_regex(r"[a-z0-9][a-z0-9._-]{0,10}", fullmatch=True)),
        created=format_time(created),
        producer=Producer(draw(_plain_text.filter(bool)), draw(optional_text), draw(optional_text)),
        labels=draw(
            st.dictionaries(
                st.from_regex(r"[a-z0-9]([a-z0-9._/-]{0,10}[a-z0-9])?", fullmatch=True),
                _plain_text,
                max_size=4,
            )
        ),
        annotations=draw(st.dictionaries(_plain_text.filter(bool), _any_text, max_size=3)),
        files=tuple([draw(_file_entries(path)) for path in paths]),
        subject=draw(st.none() | _package_digests),
        links=tuple(sorted(links, key=lambda link: (link.rel, link.target))),
    )


# --- canonical CBOR values (kernels.cbor) ------------------------------------------------------

#: Integers at every boundary of the CBOR argument sizes, and at both ends of the model.
_CBOR_INT_EDGES = tuple(
    sign * magnitude + offset
    for magnitude in (0, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1)
    for sign, offset in ((1, 0), (-1, -1))
)


def cbor_values(*, max_leaves: int = 24) -> st.SearchStrategy[CborValue]:
    """Values of the canonical CBOR data model (``kernels.cbor.CborValue``).

    ``None``, bools, integers in ``-2**64 .. 2**64 - 1`` (boundaries favoured), any valid Unicode
    text (short, or long enough for 1- and 2-byte lengths), lists, and dicts keyed by text, by
    integers, or by both. Nesting stays far below ``CBOR_MAX_DEPTH``: ``st.recursive`` nests
    about log2(max_leaves) levels.
    """
    integers = st.integers(-(2**64), 2**64 - 1) | st.sampled_from(_CBOR_INT_EDGES)
    alphabet = st.characters(exclude_categories=["Cs"])
    texts = st.text(alphabet, max_size=8) | st.text(alphabet, min_size=20, max_size=300)
    text_keys: st.SearchStrategy[str | int] = texts
    scalars: st.SearchStrategy[CborValue] = st.none() | st.booleans() | integers | texts

    def containers(children: st.SearchStrategy[CborValue]) -> st.SearchStrategy[CborValue]:
        return (
            st.lists(children, max_size=5)
            | st.dictionaries(text_keys, children, max_size=5)
            | st.dictionaries(text_keys | integers, children, max_size=5)
            | st.lists(scalars, min_size=23, max_size=26)
        )

    return st.recursive(scalars, containers, max_leaves=max_leaves)
