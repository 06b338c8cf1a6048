"""Search's own settings, read beside the platform's `Settings` (same ``MRBILL_`` prefix).

``MRBILL_SEARCH_ENGINE`` picks the engine: ``postgres`` (the embedded default) or
``opensearch``, which then needs ``MRBILL_OPENSEARCH_URL`` (or ``OPENSEARCH_URL``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.common.settings import Settings
from api.search.dojo_opensearch import DOJO_INDEX_PREFIX
from api.search.engine import SearchEngine
from api.search.opensearch_engine import OpenSearchEngine
from api.search.postgres_engine import PostgresSearchEngine


class SearchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MRBILL_", env_file=".env", extra="ignore")

    search_engine: Literal["postgres", "opensearch"] = "postgres"
    opensearch_url: str | None = Field(
        default=None, validation_alias=AliasChoices("MRBILL_OPENSEARCH_URL", "OPENSEARCH_URL")
    )
    opensearch_index_prefix: str = "mrbill-pocs"
    opensearch_dojo_index_prefix: str = DOJO_INDEX_PREFIX
    opensearch_shards: int = 3
    opensearch_replicas: int = 1
    opensearch_timeout_seconds: float = 10.0
    opensearch_verify_certs: bool = True


def build_engine(settings: Settings, search_settings: SearchSettings | None = None) -> SearchEngine:
    """The configured engine, not started yet (its pool or client opens in ``start``)."""
    search_settings = search_settings or SearchSettings()
    if search_settings.search_engine == "opensearch":
        if not search_settings.opensearch_url:
            raise ValueError(
                "MRBILL_SEARCH_ENGINE=opensearch needs MRBILL_OPENSEARCH_URL (or OPENSEARCH_URL)"
            )
        return OpenSearchEngine.from_url(
            search_settings.opensearch_url,
            index_prefix=search_settings.opensearch_index_prefix,
            shards=search_settings.opensearch_shards,
            replicas=search_settings.opensearch_replicas,
            timeout=search_settings.opensearch_timeout_seconds,
            verify_certs=search_settings.opensearch_verify_certs,
            dojo_index_prefix=search_settings.opensearch_dojo_index_prefix,
        )
    return PostgresSearchEngine.from_settings(settings)
