"""Package file paths (kernels.paths): every rule, and no accepted path escapes its root."""

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artifact_store.errors import InvalidPathError
from artifact_store.kernels.limits import MAX_PATH_BYTES, MAX_PATH_DEPTH, MAX_PATH_SEGMENT_BYTES
from artifact_store.kernels.paths import validate_path

#: 17 segments of 240 bytes and 16 slashes: exactly MAX_PATH_BYTES (4096).
AT_BYTE_LIMIT = "/".join(["a" * 240] * 17)


@pytest.mark.parametrize(
    "path",
    [
        "a",
        "README.md",
        "bin/run.sh",
        "a/b/c/d.txt",
        ".hidden",
        "dir/.hidden",
        "...",
        "a..b",
        "..a",
        "a..",
        "with space.txt",
        "caf\u00e9.txt",  # precomposed é: NFC
        "\u65e5\u672c\u8a9e/\u30d5\u30a1\u30a4\u30eb",
        "emoji-\U0001f600",
        "-dash",
        "tab\u00a0nbsp",  # NO-BREAK SPACE is not a control character
        "colon:ok",
        "a" * MAX_PATH_SEGMENT_BYTES,
        "/".join(["a"] * MAX_PATH_DEPTH),
        AT_BYTE_LIMIT,
    ],
)
def test_accepts(path: str) -> None:
    assert validate_path(path) == path


def test_byte_limit_case_is_exactly_the_limit() -> None:
    assert len(AT_BYTE_LIMIT.encode()) == MAX_PATH_BYTES


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("", id="empty"),
        pytest.param("/etc/passwd", id="absolute"),
        pytest.param("/", id="root"),
        pytest.param("//a", id="double-leading-slash"),
        pytest.param(".", id="dot"),
        pytest.param("..", id="dot-dot"),
        pytest.param("./a", id="leading-dot-segment"),
        pytest.param("a/.", id="trailing-dot-segment"),
        pytest.param("a/./b", id="inner-dot-segment"),
        pytest.param("../a", id="leading-dot-dot"),
        pytest.param("a/..", id="trailing-dot-dot"),
        pytest.param("a/../../b", id="escape"),
        pytest.param("a/", id="trailing-slash"),
        pytest.param("a//b", id="empty-segment"),
        pytest.param("a\\b", id="backslash"),
        pytest.param("..\\a", id="backslash-dot-dot"),
        pytest.param("C:\\a", id="windows-drive"),
        pytest.param("a\x00b", id="nul"),
        pytest.param("a\x01", id="c0-start"),
        pytest.param("a\tb", id="tab"),
        pytest.param("a\nb", id="newline"),
        pytest.param("a\rb", id="carriage-return"),
        pytest.param("a\x1b[31m", id="escape-sequence"),
        pytest.param("a\x1f", id="c0-end"),
        pytest.param("a\x7f", id="del"),
        pytest.param("a\x80", id="c1-start"),
        pytest.param("a\x85", id="next-line"),
        pytest.param("a\x9f", id="c1-end"),
        pytest.param("e\u0301", id="nfd-combining-accent"),
        pytest.param("cafe\u0301/x", id="nfd-in-segment"),
        pytest.param("\u212b", id="angstrom-sign-singleton"),
        pytest.param("a\ud800", id="lone-surrogate"),
        pytest.param("a" * (MAX_PATH_SEGMENT_BYTES + 1), id="segment-over-limit"),
        pytest.param("\u00e9" * 128, id="segment-over-limit-in-bytes"),
        pytest.param("/".join(["a"] * (MAX_PATH_DEPTH + 1)), id="too-deep"),
        pytest.param(AT_BYTE_LIMIT + "b", id="over-byte-limit"),
        pytest.param("\u00e9" * (MAX_PATH_BYTES // 2 + 1), id="over-byte-limit-in-utf8"),
    ],
)
def test_rejects(path: str) -> None:
    with pytest.raises(InvalidPathError):
        validate_path(path)


@pytest.mark.parametrize("value", [None, 1, b"a/b", Path("a/b")])
def test_rejects_non_str(value: object) -> None:
    with pytest.raises(InvalidPathError):
        validate_path(value)  # type: ignore[arg-type]


def test_nfc_form_of_a_rejected_nfd_path_is_accepted() -> None:
    assert validate_path("\u00e9") == "\u00e9"
    with pytest.raises(InvalidPathError):
        validate_path("e\u0301")


@pytest.mark.parametrize("code", [*range(0x20), *range(0x7F, 0xA0)])
def test_rejects_every_control_character(code: int) -> None:
    with pytest.raises(InvalidPathError):
        validate_path(f"a{chr(code)}b")


#: Characters that make paths interesting: separators, dots, controls, combining marks.
tricky = st.sampled_from(["/", ".", "..", "\\", "\x00", "\n", "\u0301", "e", "\u00e9", "a", "~"])
candidates = st.lists(tricky | st.text(max_size=3), max_size=12).map("".join)


def accepted(text: str) -> bool:
    """True when validate_path accepts ``text``."""
    try:
        validate_path(text)
    except InvalidPathError:
        return False
    return True


#: About one candidate in five is a valid path.
accepted_paths = candidates.filter(accepted)


@settings(max_examples=200)
@given(accepted_paths)
def test_accepted_paths_stay_under_the_root(text: str) -> None:
    root = Path("/srv/extract/root")
    normalised = os.path.normpath(root.joinpath(*text.split("/")))
    assert os.path.commonpath([root, normalised]) == str(root)
    assert normalised != str(root)


@pytest.fixture(scope="module")
def real_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real temporary directory (module-scoped, so Hypothesis may reuse it)."""
    return tmp_path_factory.mktemp("extract").resolve()


@settings(max_examples=100)
@given(text=accepted_paths)
def test_accepted_paths_resolve_under_a_real_root(real_root: Path, text: str) -> None:
    resolved = real_root.joinpath(*text.split("/")).resolve()
    assert resolved.is_relative_to(real_root)
    assert resolved != real_root


@settings(max_examples=200)
@given(candidates)
def test_validate_path_returns_its_input_or_raises(text: str) -> None:
    try:
        result = validate_path(text)
    except InvalidPathError:
        return
    assert result == text
    assert not text.startswith("/")
    assert all(segment not in {"", ".", ".."} for segment in text.split("/"))
