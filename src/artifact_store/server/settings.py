"""Server settings: ``ARTIFACT_STORE_*`` environment variables over an optional TOML file.

This is the only place the server reads its configuration; it becomes a ``StoreConfig`` for the
library (ADR-0011) plus the few knobs that belong to the HTTP front end (timeouts, intervals).

Precedence, highest first: keyword arguments (tests), environment variables, the TOML file named
by ``ARTIFACT_STORE_CONFIG`` (flat keys with the field names: ``data = "/srv/store"``,
``upload_idle_timeout = 3600``). Unknown keys in the file are an error, so a typo is not
silently ignored.
"""

import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from artifact_store.config import StoreConfig

__all__ = ["CONFIG_ENV", "Settings"]

#: The environment variable naming the optional TOML settings file.
CONFIG_ENV = "ARTIFACT_STORE_CONFIG"


class Settings(BaseSettings):
    """Everything ``serve`` can be configured with (durations are in seconds)."""

    model_config = SettingsConfigDict(
        env_prefix="ARTIFACT_STORE_", env_nested_delimiter="__", extra="forbid"
    )

    data: Path = Field(
        default=Path("./artifact-store-data"),
        description="Data directory (SQLite catalog, local blobs).",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite in data."
    )
    blobstore_url: str | None = Field(
        default=None,
        description="Blob store URL (file:///abs/dir, with ?write=direct|drop-behind|cached to"
        " choose how large blobs are written); default: data dir.",
    )
    upload_idle_timeout: float = Field(
        default=86400.0, gt=0, description="Seconds an idle upload session lives before it expires."
    )
    janitor_interval: float = Field(
        default=300.0, gt=0, description="Seconds between sweeps of expired upload sessions."
    )
    sse_heartbeat: float = Field(
        default=15.0,
        gt=0,
        description="Seconds between ': heartbeat' comments on an idle SSE stream.",
    )
    long_poll_max: float = Field(
        default=60.0, ge=0, le=60, description="Longest wait a long-poll of /v1/events may ask for."
    )
    host: str = Field(default="127.0.0.1", description="Address `serve` binds.")
    port: int = Field(default=8080, ge=0, le=65535, description="Port `serve` binds.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then the environment, then the TOML file (if one is named)."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        named = os.environ.get(CONFIG_ENV)
        if named:
            path = Path(named).expanduser()
            if not path.is_file():
                raise SettingsError(f"{CONFIG_ENV} names {str(path)!r}, which is not a file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    def store_config(self) -> StoreConfig:
        """The library configuration these settings describe (creating the store if missing)."""
        config = StoreConfig.for_directory(
            self.data,
            database_url=self.database_url,
            create=True,
            upload_idle_timeout=timedelta(seconds=self.upload_idle_timeout),
        )
        if self.blobstore_url:
            config = replace(config, blobstore_url=self.blobstore_url)
        return config
