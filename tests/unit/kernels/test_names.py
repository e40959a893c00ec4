"""Names and references (kernels.names): grammar tables, limits, and the reference forms."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artifact_store.errors import InvalidNameError, InvalidRefError
from artifact_store.kernels.limits import (
    MAX_NAME_BYTES,
    MAX_NAMESPACE_BYTES,
    MAX_TAG_BYTES,
    MAX_VERSION_BYTES,
)
from artifact_store.kernels.names import (
    PackageName,
    PackageRef,
    validate_name,
    validate_namespace,
    validate_tag,
    validate_version,
)

HEX = "0123456789abcdef" * 4

# --- namespace ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a",
        "acme",
        "acme/ci",
        "acme/ci/nightly",
        "a0/1b",
        "my-team",
        "my_team",
        "my.team",
        "a-b_c.d",
        "0",
        "/".join(["a"] * 128),
        "a" * MAX_NAMESPACE_BYTES,
    ],
)
def test_namespace_accepts(text: str) -> None:
    assert validate_namespace(text) == text


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("Acme", id="upper-case"),
        pytest.param("acme/CI", id="upper-case-segment"),
        pytest.param("/acme", id="leading-slash"),
        pytest.param("acme/", id="trailing-slash"),
        pytest.param("acme//ci", id="empty-segment"),
        pytest.param("..", id="dot-dot"),
        pytest.param("acme/..", id="dot-dot-segment"),
        pytest.param("acme/../ci", id="dot-dot-inside"),
        pytest.param(".acme", id="leading-dot"),
        pytest.param("acme.", id="trailing-dot"),
        pytest.param("-acme", id="leading-dash"),
        pytest.param("acme-", id="trailing-dash"),
        pytest.param("_acme", id="leading-underscore"),
        pytest.param("a..b", id="double-dot"),
        pytest.param("a.-b", id="two-separators"),
        pytest.param("a--b", id="double-dash"),
        pytest.param("a__b", id="double-underscore"),
        pytest.param("acme ci", id="space"),
        pytest.param("acme\n", id="trailing-newline"),
        pytest.param("acme\\ci", id="backslash"),
        pytest.param("acme:ci", id="colon"),
        pytest.param("acme@ci", id="at"),
        pytest.param("acm\u00e9", id="latin-unicode"),
        pytest.param("\u0430cme", id="cyrillic-a"),
        pytest.param("acme%2Fci", id="percent-encoded-slash"),
        pytest.param("a" * (MAX_NAMESPACE_BYTES + 1), id="over-length"),
        pytest.param("/".join(["ab"] * 86), id="over-length-in-segments"),
    ],
)
def test_namespace_rejects(text: str) -> None:
    with pytest.raises(InvalidNameError):
        validate_namespace(text)


@pytest.mark.parametrize("value", [None, 1, b"acme"])
def test_namespace_rejects_non_str(value: object) -> None:
    with pytest.raises(InvalidNameError):
        validate_namespace(value)  # type: ignore[arg-type]


def test_namespace_over_length_names_the_limit() -> None:
    with pytest.raises(InvalidNameError) as info:
        validate_namespace("a" * (MAX_NAMESPACE_BYTES + 1))
    assert info.value.extra == {"kind": "namespace", "maximum": MAX_NAMESPACE_BYTES}


# --- name --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["report", "r", "0", "my-report", "my_report", "my.report", "a" * MAX_NAME_BYTES]
)
def test_name_accepts(text: str) -> None:
    assert validate_name(text) == text


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("Report", id="upper-case"),
        pytest.param("acme/report", id="slash"),
        pytest.param("..", id="dot-dot"),
        pytest.param(".report", id="leading-dot"),
        pytest.param("report-", id="trailing-dash"),
        pytest.param("re..port", id="double-dot"),
        pytest.param("rep ort", id="space"),
        pytest.param("r\u00e9port", id="unicode"),
        pytest.param("report\n", id="trailing-newline"),
        pytest.param("a" * (MAX_NAME_BYTES + 1), id="over-length"),
    ],
)
def test_name_rejects(text: str) -> None:
    with pytest.raises(InvalidNameError):
        validate_name(text)


# --- version -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "1",
        "1.0",
        "1.2.3",
        "1.2.3-rc.1",
        "1.2.0+build.7",
        "v2",
        "V2",
        "2026.03.01",
        "0_1",
        "a" * MAX_VERSION_BYTES,
    ],
)
def test_version_accepts(text: str) -> None:
    assert validate_version(text) == text


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param(".1", id="leading-dot"),
        pytest.param("-1", id="leading-dash"),
        pytest.param("+1", id="leading-plus"),
        pytest.param("_1", id="leading-underscore"),
        pytest.param("1.0 ", id="trailing-space"),
        pytest.param("1.0\n", id="trailing-newline"),
        pytest.param("1/0", id="slash"),
        pytest.param("1:0", id="colon"),
        pytest.param("1@0", id="at"),
        pytest.param("1.\u00e9", id="unicode"),
        pytest.param("\u0661", id="arabic-indic-digit"),
        pytest.param("a" * (MAX_VERSION_BYTES + 1), id="over-length"),
    ],
)
def test_version_rejects(text: str) -> None:
    with pytest.raises(InvalidNameError):
        validate_version(text)


# --- tag ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["latest", "Latest", "v1.0", "_internal", "1", "a-b_c.d", "a" * MAX_TAG_BYTES]
)
def test_tag_accepts(text: str) -> None:
    assert validate_tag(text) == text


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param(".latest", id="leading-dot"),
        pytest.param("-latest", id="leading-dash"),
        pytest.param("a+b", id="plus"),
        pytest.param("a/b", id="slash"),
        pytest.param("a:b", id="colon"),
        pytest.param("a b", id="space"),
        pytest.param("latest\n", id="trailing-newline"),
        pytest.param("l\u00e4test", id="unicode"),
        pytest.param("a" * (MAX_TAG_BYTES + 1), id="over-length"),
    ],
)
def test_tag_rejects(text: str) -> None:
    with pytest.raises(InvalidNameError):
        validate_tag(text)


# --- PackageName -------------------------------------------------------------------------------


def test_parse_path_splits_at_the_last_slash() -> None:
    assert PackageName.parse_path("acme/ci/report") == PackageName("acme/ci", "report")


def test_parse_path_str_round_trips() -> None:
    assert str(PackageName.parse_path("acme/report")) == "acme/report"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("report", id="no-namespace"),
        pytest.param("/report", id="empty-namespace"),
        pytest.param("acme/", id="empty-name"),
        pytest.param("acme//report", id="empty-segment"),
        pytest.param("Acme/report", id="upper-case-namespace"),
        pytest.param("acme/Report", id="upper-case-name"),
        pytest.param("acme/../report", id="dot-dot"),
        pytest.param("", id="empty"),
    ],
)
def test_parse_path_rejects(text: str) -> None:
    with pytest.raises(InvalidNameError):
        PackageName.parse_path(text)


def test_package_name_parse_validates_both_parts() -> None:
    with pytest.raises(InvalidNameError):
        PackageName.parse("acme", "a/b")


# --- PackageRef --------------------------------------------------------------------------------


def test_ref_version() -> None:
    ref = PackageRef.parse("acme/ci/report@1.2.0+build.7")
    assert ref == PackageRef(
        "version", name=PackageName("acme/ci", "report"), version="1.2.0+build.7"
    )


def test_ref_tag() -> None:
    ref = PackageRef.parse("acme/ci/report:latest")
    assert ref == PackageRef("tag", name=PackageName("acme/ci", "report"), tag="latest")


def test_ref_named_digest() -> None:
    ref = PackageRef.parse(f"acme/report@sha256:{HEX}")
    assert ref == PackageRef("digest", name=PackageName("acme", "report"), digest=f"sha256:{HEX}")


def test_ref_bare_digest() -> None:
    assert PackageRef.parse(f"sha256:{HEX}") == PackageRef("digest", digest=f"sha256:{HEX}")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("acme/report", id="no-version-tag-or-digest"),
        pytest.param("report@1", id="version-without-namespace"),
        pytest.param("report:latest", id="tag-without-namespace"),
        pytest.param(f"blake3:{HEX}", id="bare-blake3"),
        pytest.param(f"acme/report@blake3:{HEX}", id="named-blake3"),
        pytest.param(f"sha256:{HEX.upper()}", id="bare-upper-hex"),
        pytest.param(f"sha256:{HEX[:63]}", id="bare-short-hex"),
        pytest.param(f"acme/report@sha256:{HEX[:63]}", id="named-short-hex"),
        pytest.param(":latest", id="tag-only"),
        pytest.param("@1.0", id="version-only"),
        pytest.param("acme/report@", id="empty-version"),
        pytest.param("acme/report:", id="empty-tag"),
        pytest.param("acme/report@1.0@2.0", id="two-versions"),
        pytest.param("acme/report:a:b", id="two-tags"),
        pytest.param("acme/report:latest@1.0", id="tag-then-version"),
        pytest.param("Acme/report@1.0", id="upper-case-namespace"),
        pytest.param("acme/report@1.0 ", id="trailing-space"),
        pytest.param("acme/../report@1.0", id="dot-dot"),
        pytest.param("", id="empty"),
        pytest.param("a/b@" + "1" * 597, id="601-chars"),
    ],
)
def test_ref_rejects(text: str) -> None:
    with pytest.raises(InvalidRefError):
        PackageRef.parse(text)


@pytest.mark.parametrize("value", [None, 1, b"acme/report@1"])
def test_ref_rejects_non_str(value: object) -> None:
    with pytest.raises(InvalidRefError):
        PackageRef.parse(value)  # type: ignore[arg-type]


segments = st.from_regex(r"[a-z0-9]{1,8}([._-][a-z0-9]{1,4}){0,2}", fullmatch=True)
namespaces = st.lists(segments, min_size=1, max_size=3).map("/".join)
versions = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,20}", fullmatch=True)
tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,20}", fullmatch=True)
digests = st.binary(min_size=32, max_size=32).map(lambda raw: f"sha256:{raw.hex()}")


@st.composite
def ref_texts(draw: st.DrawFn) -> str:
    """Valid reference text in one of the four forms."""
    name = f"{draw(namespaces)}/{draw(segments)}"
    return draw(
        st.sampled_from(
            [f"{name}@{draw(versions)}", f"{name}:{draw(tags)}", f"{name}@{draw(digests)}"]
        )
        | digests
    )


@settings(max_examples=200)
@given(ref_texts())
def test_ref_str_round_trips(text: str) -> None:
    assert str(PackageRef.parse(text)) == text


@settings(max_examples=100)
@given(namespaces, segments)
def test_parse_path_round_trips(namespace: str, name: str) -> None:
    parsed = PackageName.parse_path(f"{namespace}/{name}")
    assert (parsed.namespace, parsed.name) == (namespace, name)
