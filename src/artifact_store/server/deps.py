"""Dependency aliases for the routes: the store, the acting principal, the settings.

Each is an ``Annotated`` alias (CONVENTIONS §2.6), so a route names what it needs by type.
"""

from typing import Annotated

from fastapi import Depends, Request

from artifact_store.server.settings import Settings
from artifact_store.store import ArtifactStore

__all__ = ["ANONYMOUS", "ActorDep", "SettingsDep", "StoreDep"]

#: The actor of every mutation until authentication exists (docs/api/v1.md).
ANONYMOUS = "anonymous"


def _store(request: Request) -> ArtifactStore:
    store: ArtifactStore = request.app.state.store
    return store


def _actor(request: Request) -> str:
    # Until access control exists (its own roadmap step) every request acts as "anonymous";
    # the client address is in the access log (issue #3 item 9).
    return ANONYMOUS


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[ArtifactStore, Depends(_store)]
ActorDep = Annotated[str, Depends(_actor)]
SettingsDep = Annotated[Settings, Depends(_settings)]
