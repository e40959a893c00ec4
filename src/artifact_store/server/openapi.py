"""The OpenAPI document at ``/openapi.json``: FastAPI's, with the problem+json schema added and
FastAPI's automatic 422 "validation error" responses removed (this API answers malformed
parameters with a 400 ``invalid_input`` problem, declared on every route)."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from artifact_store.server.schemas import Problem

__all__ = ["install_openapi"]

_FASTAPI_VALIDATION = "#/components/schemas/HTTPValidationError"


def _is_fastapi_validation(response: dict[str, Any]) -> bool:
    content = response.get("content", {})
    return any(
        media.get("schema", {}).get("$ref") == _FASTAPI_VALIDATION for media in content.values()
    )


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` build (once) the document described above."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        for item in document.get("paths", {}).values():
            for operation in item.values():
                responses = operation.get("responses", {})
                if "422" in responses and _is_fastapi_validation(responses["422"]):
                    del responses["422"]
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
