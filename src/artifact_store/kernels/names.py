"""Names and references: namespaces, package names, versions, tags, and the refs that join them.

Grammars (checked for length before any regex, RELIABILITY.md §6.2):

- namespace: one or more ``/``-separated segments, each ``[a-z0-9]+([._-][a-z0-9]+)*`` (the OCI
  repository-name component grammar);
- name: one such segment;
- version: ``[A-Za-z0-9][A-Za-z0-9._+-]{0,127}`` (semver with build metadata fits);
- tag: ``[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`` (the OCI tag grammar).

A reference is ``namespace/name@version``, ``namespace/name:tag``, ``namespace/name@sha256:<hex>``
or a bare package digest ``sha256:<hex>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Self

from artifact_store.errors import InvalidDigestError, InvalidNameError, InvalidRefError
from artifact_store.kernels.digest import Digest
from artifact_store.kernels.limits import (
    MAX_NAME_BYTES,
    MAX_NAMESPACE_BYTES,
    MAX_TAG_BYTES,
    MAX_VERSION_BYTES,
)

__all__ = [
    "PackageName",
    "PackageRef",
    "validate_name",
    "validate_namespace",
    "validate_tag",
    "validate_version",
]

_SEGMENT = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def _check(kind: str, text: object, maximum: int, pattern: re.Pattern[str]) -> str:
    if not isinstance(text, str) or not text:
        raise InvalidNameError(f"{kind} must be a non-empty string", kind=kind)
    if len(text) > maximum:
        raise InvalidNameError(
            f"{kind} is {len(text)} characters, over the limit of {maximum}",
            kind=kind,
            maximum=maximum,
        )
    if not pattern.fullmatch(text):
        raise InvalidNameError(f"invalid {kind}: {text!r}", kind=kind, value=text)
    return text


def validate_namespace(text: str) -> str:
    """Return ``text`` when it is a valid namespace (``acme/ci``), else raise InvalidNameError."""
    if not isinstance(text, str) or not text:
        raise InvalidNameError("namespace must be a non-empty string", kind="namespace")
    if len(text) > MAX_NAMESPACE_BYTES:
        raise InvalidNameError(
            f"namespace is {len(text)} characters, over the limit of {MAX_NAMESPACE_BYTES}",
            kind="namespace",
            maximum=MAX_NAMESPACE_BYTES,
        )
    for segment in text.split("/"):
        if not _SEGMENT.fullmatch(segment):
            raise InvalidNameError(
                f"invalid namespace {text!r}: segment {segment!r} must match "
                "[a-z0-9]+([._-][a-z0-9]+)*",
                kind="namespace",
                value=text,
            )
    return text


def validate_name(text: str) -> str:
    """Return ``text`` when it is a valid package name (one lower-case segment)."""
    return _check("name", text, MAX_NAME_BYTES, _SEGMENT)


def validate_version(text: str) -> str:
    """Return ``text`` when it is a valid version."""
    return _check("version", text, MAX_VERSION_BYTES, _VERSION)


def validate_tag(text: str) -> str:
    """Return ``text`` when it is a valid tag (OCI tag grammar)."""
    return _check("tag", text, MAX_TAG_BYTES, _TAG)


@dataclass(frozen=True, slots=True)
class PackageName:
    """A namespace plus a package name; ``str()`` is ``namespace/name``."""

    namespace: str
    name: str

    @classmethod
    def parse(cls, namespace: str, name: str) -> Self:
        """Validate both parts."""
        return cls(validate_namespace(namespace), validate_name(name))

    @classmethod
    def parse_path(cls, text: str) -> Self:
        """Split ``acme/ci/report`` into namespace ``acme/ci`` and name ``report``."""
        if not isinstance(text, str) or "/" not in text:
            raise InvalidNameError(
                f"a package name needs a namespace: 'namespace/name', got {text!r}",
                kind="name",
                value=str(text),
            )
        namespace, _, name = text.rpartition("/")
        return cls.parse(namespace, name)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


type RefKind = Literal["version", "tag", "digest"]


@dataclass(frozen=True, slots=True)
class PackageRef:
    """A parsed reference to one package.

    ``kind`` says which of ``version``, ``tag`` or ``digest`` is set; ``name`` is None only for
    a bare digest reference.
    """

    kind: RefKind
    name: PackageName | None = None
    version: str | None = None
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Self:
        """Parse any of the reference forms.

        Raises:
            InvalidRefError: the text is none of the forms (the message says which are allowed).
        """
        if not isinstance(text, str) or not text or len(text) > 600:
            raise InvalidRefError(f"invalid reference: {str(text)[:80]!r}", ref=str(text)[:80])
        try:
            return cls._parse(text)
        except (InvalidNameError, InvalidDigestError) as exc:
            raise InvalidRefError(f"invalid reference {text!r}: {exc}", ref=text) from exc

    @classmethod
    def _parse(cls, text: str) -> Self:
        if text.startswith(("sha256:", "blake3:")):
            return cls("digest", digest=str(Digest.parse(text, algorithm="sha256")))
        if "@" in text:
            path, _, rest = text.partition("@")
            name = PackageName.parse_path(path)
            if rest.startswith("sha256:"):
                return cls("digest", name=name, digest=str(Digest.parse(rest, algorithm="sha256")))
            return cls("version", name=name, version=validate_version(rest))
        head, sep, tag = text.rpartition(":")
        if sep and "/" not in tag:
            return cls("tag", name=PackageName.parse_path(head), tag=validate_tag(tag))
        raise InvalidRefError(
            f"reference {text!r} needs @version, :tag or a sha256 digest "
            "(e.g. acme/ci/report@1.0, acme/ci/report:latest, sha256:<hex>)",
            ref=text,
        )

    def __str__(self) -> str:
        match self.kind:
            case "version":
                return f"{self.name}@{self.version}"
            case "tag":
                return f"{self.name}:{self.tag}"
            case "digest":
                return f"{self.name}@{self.digest}" if self.name else str(self.digest)
