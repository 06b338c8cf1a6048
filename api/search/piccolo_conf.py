"""Piccolo's configuration for the embedded search engine's database (``search``).

Piccolo looks the engine up by name (``DB``); it is built from settings only when first asked
for, or when `configure` is called by the migration runner or the app factory.
"""

from __future__ import annotations

from typing import Any

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine

from api.common.settings import Settings

SERVICE = "search"

APP_REGISTRY = AppRegistry(apps=["api.search.piccolo_app"])

_engine: PostgresEngine | None = None


def configure(settings: Settings, *, as_owner: bool = True) -> PostgresEngine:
    """Point Piccolo at the search database (as the owner role for migrations)."""
    global _engine
    if as_owner:
        config: dict[str, Any] = {
            "dsn": settings.superuser_dsn(SERVICE),
            "server_settings": {"role": settings.owner_role(SERVICE)},
        }
    else:
        config = {"dsn": settings.database_url(SERVICE)}
    _engine = PostgresEngine(config=config)
    return _engine


def __getattr__(name: str) -> Any:
    if name == "DB":
        return _engine if _engine is not None else configure(Settings())
    raise AttributeError(name)
