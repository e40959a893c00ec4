"""validate_manifest: one case per rule, each asserting the specific error class."""

import dataclasses

import pytest

from artifact_store.errors import (
    ArtifactStoreError,
    InvalidDigestError,
    InvalidLabelError,
    InvalidNameError,
    InvalidPathError,
    LimitExceededError,
    ManifestInvalidError,
)
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
)
from artifact_store.manifest import (
    FileEntry,
    Link,
    Manifest,
    Producer,
    validate_kind,
    validate_label_key,
    validate_manifest,
    validate_media_type,
)

DIGEST = "sha256:" + "ab" * 32

type Error = type[ArtifactStoreError]


def with_files(m: Manifest, *paths: str) -> Manifest:
    template = m.files[0]
    return dataclasses.replace(
        m, files=tuple(dataclasses.replace(template, path=path) for path in paths)
    )


def with_file(m: Manifest, **changes: object) -> Manifest:
    return dataclasses.replace(m, files=(dataclasses.replace(m.files[0], **changes),))  # type: ignore[arg-type]


def test_valid_manifest_is_returned_unchanged(manifest: Manifest) -> None:
    assert validate_manifest(manifest) is manifest


def test_minimal_manifest_is_valid(manifest: Manifest) -> None:
    minimal = dataclasses.replace(
        manifest, producer=Producer("ci"), labels={}, annotations={}, files=(), subject=None,
        links=(),
    )  # fmt: skip
    assert validate_manifest(minimal) is minimal


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        pytest.param({"schema": 2}, ManifestInvalidError, id="schema-2"),
        pytest.param({"schema": True}, ManifestInvalidError, id="schema-bool"),
        pytest.param({"namespace": "Acme"}, InvalidNameError, id="namespace-upper"),
        pytest.param({"namespace": "acme//ci"}, InvalidNameError, id="namespace-empty-segment"),
        pytest.param({"name": "a/b"}, InvalidNameError, id="name-slash"),
        pytest.param({"version": "-1"}, InvalidNameError, id="version-leading-dash"),
        pytest.param({"version": ""}, InvalidNameError, id="version-empty"),
        pytest.param({"kind": "Report"}, ManifestInvalidError, id="kind-upper"),
        pytest.param({"kind": ""}, ManifestInvalidError, id="kind-empty"),
        pytest.param({"kind": ".x"}, ManifestInvalidError, id="kind-leading-dot"),
        pytest.param({"kind": "a" * (MAX_KIND_BYTES + 1)}, LimitExceededError, id="kind-long"),
        pytest.param({"kind": 7}, ManifestInvalidError, id="kind-not-text"),
    ],
)
def test_header_rules(manifest: Manifest, changes: dict[str, object], error: Error) -> None:
    with pytest.raises(error):
        validate_manifest(dataclasses.replace(manifest, **changes))  # type: ignore[arg-type]


def test_kind_grammar_accepts_dots_dashes_underscores() -> None:
    assert validate_kind("sbom.cyclonedx_1-5") == "sbom.cyclonedx_1-5"


@pytest.mark.parametrize(
    "created",
    [
        pytest.param("2026-03-01T12:30:00+00:00", id="offset-not-z"),
        pytest.param("2026-03-01 12:30:00Z", id="space-separator"),
        pytest.param("2026-02-30T00:00:00Z", id="no-such-day"),
        pytest.param("2026-03-01T12:30:00.250Z", id="trailing-zero-fraction"),
        pytest.param("2026-03-01T12:30:00.000000Z", id="zero-fraction"),
        pytest.param("2026-03-01T12:30:00z", id="lower-z"),
        pytest.param("", id="empty"),
    ],
)
def test_created_must_be_canonical_rfc3339_utc(manifest: Manifest, created: str) -> None:
    with pytest.raises(ManifestInvalidError):
        validate_manifest(dataclasses.replace(manifest, created=created))


@pytest.mark.parametrize("created", ["2026-03-01T12:30:00Z", "2026-03-01T12:30:00.123456Z"])
def test_created_canonical_forms_pass(manifest: Manifest, created: str) -> None:
    validate_manifest(dataclasses.replace(manifest, created=created))


@pytest.mark.parametrize(
    ("producer", "error"),
    [
        pytest.param(Producer(""), ManifestInvalidError, id="name-empty"),
        pytest.param(Producer("ci", version=""), ManifestInvalidError, id="version-empty"),
        pytest.param(Producer("ci", run=""), ManifestInvalidError, id="run-empty"),
        pytest.param(Producer("c\ni"), ManifestInvalidError, id="name-newline"),
        pytest.param(Producer("ci", run="a\x85b"), ManifestInvalidError, id="run-c1-control"),
        pytest.param(Producer("ci", version="\ud800"), ManifestInvalidError, id="surrogate"),
        pytest.param(
            Producer("é" * (MAX_PRODUCER_FIELD_BYTES // 2 + 1)), LimitExceededError, id="name-long"
        ),
        pytest.param(Producer(None), ManifestInvalidError, id="name-none"),  # type: ignore[arg-type]
    ],
)
def test_producer_rules(manifest: Manifest, producer: Producer, error: Error) -> None:
    with pytest.raises(error):
        validate_manifest(dataclasses.replace(manifest, producer=producer))


@pytest.mark.parametrize(
    ("labels", "error"),
    [
        pytest.param({"Git": "x"}, InvalidLabelError, id="key-upper"),
        pytest.param({"": "x"}, InvalidLabelError, id="key-empty"),
        pytest.param({"git.": "x"}, InvalidLabelError, id="key-trailing-dot"),
        pytest.param({"/a": "x"}, InvalidLabelError, id="key-leading-slash"),
        pytest.param({"a b": "x"}, InvalidLabelError, id="key-space"),
        pytest.param({1: "x"}, InvalidLabelError, id="key-not-text"),
        pytest.param({"a": "x\ty"}, InvalidLabelError, id="value-tab"),
        pytest.param({"a": "\ud800"}, InvalidLabelError, id="value-surrogate"),
        pytest.param({"a": 1}, InvalidLabelError, id="value-not-text"),
        pytest.param({"a" * (MAX_LABEL_KEY_BYTES + 1): "x"}, LimitExceededError, id="key-long"),
        pytest.param(
            {"a": "é" * (MAX_LABEL_VALUE_BYTES // 2 + 1)}, LimitExceededError, id="value-long"
        ),
        pytest.param(
            {f"k{i}": "" for i in range(MAX_LABELS + 1)}, LimitExceededError, id="too-many"
        ),
    ],
)
def test_label_rules(manifest: Manifest, labels: dict[object, object], error: Error) -> None:
    with pytest.raises(error):
        validate_manifest(dataclasses.replace(manifest, labels=labels))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "key",
    ["git.commit", "app.kubernetes.io/name", "a", "0", "a-b_c.d/e", "x" * MAX_LABEL_KEY_BYTES],
)
def test_label_key_grammar_accepts(key: str) -> None:
    assert validate_label_key(key) == key


def test_label_value_may_be_empty(manifest: Manifest) -> None:
    validate_manifest(dataclasses.replace(manifest, labels={"a": ""}))


@pytest.mark.parametrize(
    ("annotations", "error"),
    [
        pytest.param({"": "x"}, ManifestInvalidError, id="key-empty"),
        pytest.param({"a\nb": "x"}, ManifestInvalidError, id="key-newline"),
        pytest.param({"a": None}, ManifestInvalidError, id="value-not-text"),
        pytest.param({"k" * (MAX_ANNOTATION_KEY_BYTES + 1): ""}, LimitExceededError, id="key-long"),
        pytest.param(
            {"a": "x" * (MAX_ANNOTATION_VALUE_BYTES + 1)}, LimitExceededError, id="value-long"
        ),
        pytest.param(
            {str(i): "" for i in range(MAX_ANNOTATIONS + 1)}, LimitExceededError, id="too-many"
        ),
    ],
)
def test_annotation_rules(manifest: Manifest, annotations: dict[str, object], error: Error) -> None:
    with pytest.raises(error):
        validate_manifest(dataclasses.replace(manifest, annotations=annotations))  # type: ignore[arg-type]


def test_annotation_keys_and_values_are_free_form(manifest: Manifest) -> None:
    free = {"Mixed Case Key!": "line 1\nline 2\ttab", "org.opencontainers.image.title": ""}
    validate_manifest(dataclasses.replace(manifest, annotations=free))


@pytest.mark.parametrize(
    "path", ["../x", "/abs", "a//b", "a/./b", "a\\b", "e\u0301", "a\x00b", "", "a/"]
)
def test_file_path_rules(manifest: Manifest, path: str) -> None:
    with pytest.raises(InvalidPathError):
        validate_manifest(with_file(manifest, path=path))


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        pytest.param({"size": -1}, ManifestInvalidError, id="size-negative"),
        pytest.param({"size": True}, ManifestInvalidError, id="size-bool"),
        pytest.param({"size": 1.0}, ManifestInvalidError, id="size-float"),
        pytest.param({"size": MAX_BLOB_SIZE + 1}, LimitExceededError, id="size-over-max"),
        pytest.param({"sha256": "AB" * 32}, InvalidDigestError, id="sha256-upper"),
        pytest.param({"sha256": DIGEST}, InvalidDigestError, id="sha256-prefixed"),
        pytest.param({"blake3": "ab" * 31}, InvalidDigestError, id="blake3-short"),
        pytest.param({"blake3": None}, InvalidDigestError, id="blake3-none"),
        pytest.param(
            {"media_type": "text/plain; charset=utf-8"}, ManifestInvalidError, id="mt-params"
        ),
        pytest.param({"media_type": "Text/Plain"}, ManifestInvalidError, id="mt-upper"),
        pytest.param({"media_type": "text"}, ManifestInvalidError, id="mt-no-subtype"),
        pytest.param({"media_type": "text/"}, ManifestInvalidError, id="mt-empty-subtype"),
        pytest.param({"media_type": "a/b/c"}, ManifestInvalidError, id="mt-two-slashes"),
        pytest.param(
            {"media_type": "a/" + "b" * MAX_MEDIA_TYPE_BYTES}, LimitExceededError, id="mt-long"
        ),
        pytest.param({"executable": 1}, ManifestInvalidError, id="executable-int"),
    ],
)
def test_file_field_rules(manifest: Manifest, changes: dict[str, object], error: Error) -> None:
    with pytest.raises(error):
        validate_manifest(with_file(manifest, **changes))


@pytest.mark.parametrize(
    "media_type",
    ["application/vnd.oci.image.manifest.v1+json", "image/svg+xml", "application/x-tar"],
)
def test_media_type_grammar_accepts(media_type: str) -> None:
    assert validate_media_type(media_type) == media_type


def test_file_size_bounds_are_inclusive(manifest: Manifest) -> None:
    validate_manifest(with_file(manifest, size=0))
    validate_manifest(with_file(manifest, size=MAX_BLOB_SIZE))


def test_files_must_be_sorted(manifest: Manifest) -> None:
    with pytest.raises(ManifestInvalidError, match="sorted"):
        validate_manifest(with_files(manifest, "b", "a"))


def test_files_must_be_unique(manifest: Manifest) -> None:
    with pytest.raises(ManifestInvalidError, match="twice"):
        validate_manifest(with_files(manifest, "a", "a"))


def test_files_sort_by_code_point(manifest: Manifest) -> None:
    # Upper case before lower case; U+FFFF before U+1F600 (UTF-8 byte order, not UTF-16's).
    validate_manifest(with_files(manifest, "B", "a", "z", "é", "\uffee", "\U0001f600"))
    with pytest.raises(ManifestInvalidError):
        validate_manifest(with_files(manifest, "\U0001f600", "\uffee"))


@pytest.mark.parametrize(
    "paths",
    [("a", "a/b"), ("a", "a-x", "a/b"), ("x/a", "x/a/b/c")],
    ids=["adjacent", "not-adjacent", "nested"],
)
def test_file_cannot_also_be_a_directory(manifest: Manifest, paths: tuple[str, ...]) -> None:
    with pytest.raises(ManifestInvalidError, match="also a directory"):
        validate_manifest(with_files(manifest, *paths))


def test_similar_names_are_not_directory_clashes(manifest: Manifest) -> None:
    validate_manifest(with_files(manifest, "a.txt", "a/b", "ab/c"))


def test_too_many_files(manifest: Manifest) -> None:
    entry = manifest.files[0]
    files = (entry,) * (MAX_FILES + 1)  # counted before any per-file work
    with pytest.raises(LimitExceededError):
        validate_manifest(dataclasses.replace(manifest, files=files))


@pytest.mark.parametrize(
    "subject",
    ["blake3:" + "ab" * 32, "ab" * 32, "sha256:" + "AB" * 32, "sha512:" + "ab" * 64, " " + DIGEST],
)
def test_subject_must_be_a_sha256_digest(manifest: Manifest, subject: str) -> None:
    with pytest.raises(InvalidDigestError):
        validate_manifest(dataclasses.replace(manifest, subject=subject))


@pytest.mark.parametrize(
    ("links", "error"),
    [
        pytest.param((Link("Derived", DIGEST),), ManifestInvalidError, id="rel-upper"),
        pytest.param((Link("", DIGEST),), ManifestInvalidError, id="rel-empty"),
        pytest.param(
            (Link("r" * (MAX_LINK_REL_BYTES + 1), DIGEST),), LimitExceededError, id="rel-long"
        ),
        pytest.param((Link("a", "blake3:" + "ab" * 32),), InvalidDigestError, id="target-blake3"),
        pytest.param((Link("a", DIGEST), Link("a", DIGEST)), ManifestInvalidError, id="duplicate"),
        pytest.param((Link("b", DIGEST), Link("a", DIGEST)), ManifestInvalidError, id="unsorted"),
        pytest.param((Link("a", DIGEST),) * (MAX_LINKS + 1), LimitExceededError, id="too-many"),
    ],
)
def test_link_rules(manifest: Manifest, links: tuple[Link, ...], error: Error) -> None:
    with pytest.raises(error):
        validate_manifest(dataclasses.replace(manifest, links=links))


def test_links_sorted_by_rel_then_target(manifest: Manifest) -> None:
    other = "sha256:" + "cd" * 32
    links = (Link("a", DIGEST), Link("a", other), Link("b", DIGEST))
    validate_manifest(dataclasses.replace(manifest, links=links))


def test_error_message_is_one_line_and_names_the_field(manifest: Manifest) -> None:
    with pytest.raises(InvalidDigestError) as caught:
        validate_manifest(with_file(manifest, path="dir/x.bin", sha256="nope\n"))
    message = str(caught.value)
    assert "\n" not in message
    assert "dir/x.bin" in message
    assert "sha256" in message


def test_limit_error_names_the_limit(manifest: Manifest) -> None:
    labels = {f"k{i}": "" for i in range(MAX_LABELS + 1)}
    with pytest.raises(LimitExceededError) as caught:
        validate_manifest(dataclasses.replace(manifest, labels=labels))
    assert caught.value.extra == {
        "limit": "label count",
        "value": MAX_LABELS + 1,
        "maximum": MAX_LABELS,
    }


def test_file_entry_must_be_a_file_entry(manifest: Manifest) -> None:
    with pytest.raises(ManifestInvalidError):
        validate_manifest(dataclasses.replace(manifest, files=("a",)))  # type: ignore[arg-type]
    assert isinstance(manifest.files[0], FileEntry)
