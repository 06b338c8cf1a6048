"""Piccolo's configuration for the dojo database (the realtime service's, named ``dojo``).

Piccolo looks the engine up by name (``DB``); it is built from settings only when first asked
for, or when `configure` is called by the migration runner, the app factory or a test.
"""

from __future__ import annotations

from typing import Any

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine

from api.common.settings import Settings

SERVICE = "realtime"

APP_REGISTRY = AppRegistry(apps=["realtime.dojos.piccolo_app"])

_engine: PostgresEngine | None = None


def build_engine(settings: Settings, *, as_owner: bool = False) -> PostgresEngine:
    """A new engine: the application role (forced RLS) unless `as_owner` (migrations only)."""
    if as_owner:
        config: dict[str, Any] = {
            "dsn": settings.superuser_dsn(settings.database_name(SERVICE)),
            "server_settings": {"role": settings.owner_role(SERVICE)},
        }
    else:
        config = {"dsn": settings.database_url(SERVICE)}
    return PostgresEngine(config=config, log_queries=False)


def configure(settings: Settings, *, as_owner: bool = True) -> PostgresEngine:
    """Point Piccolo's ``DB`` at the dojo database (as the owner role for migrations)."""
    global _engine
    _engine = build_engine(settings, as_owner=as_owner)
    return _engine


def __getattr__(name: str) -> Any:
    if name == "DB":
        return _engine if _engine is not None else configure(Settings())
    raise AttributeError(name)
