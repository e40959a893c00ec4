"""Server settings from ``ARTIFACT_STORE_*`` environment variables (pydantic-settings).

This is the only place the environment is read; it becomes a ``StoreConfig`` for the library.
"""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from artifact_store.config import StoreConfig

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Read from ``ARTIFACT_STORE_DATA``, ``…_DATABASE_URL`` and ``…_BLOBSTORE_URL``."""

    model_config = SettingsConfigDict(env_prefix="ARTIFACT_STORE_", env_nested_delimiter="__")

    data: Path = Path("./artifact-store-data")
    database_url: str | None = None
    blobstore_url: str | None = None

    def store_config(self) -> StoreConfig:
        """The library configuration these settings describe (creating the store if missing)."""
        config = StoreConfig.for_directory(self.data, database_url=self.database_url, create=True)
        if self.blobstore_url:
            config = StoreConfig(
                database_url=config.database_url,
                blobstore_url=self.blobstore_url,
                create=True,
            )
        return config
