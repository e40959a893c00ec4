"""The /v1 routers, one module per resource (``docs/api/v1.md``).

Importing this package registers the ``namespace`` path convertor the package routes use: one
or more ``/``-separated segments, none of them the literal ``-``. Since ``-`` can never be a
namespace segment, the first ``/-/`` after the package name ends the package path, and file
paths after it may contain anything (``/v1/packages/acme/ci/report/-/versions/1.0/files/a/-/b``).
"""

from starlette.convertors import Convertor, register_url_convertor

__all__ = ["NamespaceConvertor"]

_SEGMENT = r"(?:[^/-][^/]*|-[^/]+)"


class NamespaceConvertor(Convertor[str]):
    """Matches a namespace path (``acme/ci``); the value is validated by the library."""

    regex = f"{_SEGMENT}(?:/{_SEGMENT})*"

    def convert(self, value: str) -> str:
        """As matched."""
        return value

    def to_string(self, value: str) -> str:
        """As given."""
        return value


register_url_convertor("namespace", NamespaceConvertor())
