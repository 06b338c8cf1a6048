"""The search service's app factory (``uvicorn --factory api.search.app:create_app``).

Tokens are checked with identity's JWKS like in every other service, and logged-out ones
against the Valkey denylist. The engine is the one
``MRBILL_SEARCH_ENGINE`` names (the embedded PostgreSQL engine by default); its pool or HTTP
client opens with the app and closes with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from litestar import Litestar
from temporalio.client import Client

from api.common.app import build_key_set_provider, create_service_app
from api.common.auth import KeySetProvider, ValkeyDenylist
from api.common.health import valkey_check
from api.common.i18n import register_catalog_dir
from api.common.settings import Settings
from api.common.valkey import create_valkey
from api.search.config import SearchSettings, build_engine
from api.search.deps import DEPENDENCIES, SearchRuntime
from api.search.engine import SearchEngine
from api.search.routes import ROUTE_HANDLERS
from api.search.service import TemporalGateway

SERVICE = "search"
LOCALE_DIR = Path(__file__).parent / "locale"

DESCRIPTION = (
    "Find POCs by name, description, tags, language and frameworks, with typo tolerance, "
    "facet counts and highlights; autocomplete; index management and reindexing."
)


def create_app(
    settings: Settings | None = None,
    *,
    engine: SearchEngine | None = None,
    key_set: KeySetProvider | None = None,
    temporal_client: Client | None = None,
    search_settings: SearchSettings | None = None,
) -> Litestar:
    """`engine`, `key_set` and `temporal_client` let tests and benchmarks inject their own.

    An injected engine is used as is: the caller starts and closes it.
    """
    settings = settings or Settings()
    register_catalog_dir(LOCALE_DIR)
    owns_engine = engine is None
    search_engine = engine if engine is not None else build_engine(settings, search_settings)
    http = httpx.AsyncClient()
    keys = key_set if key_set is not None else build_key_set_provider(settings, http)
    temporal = TemporalGateway(settings, temporal_client)
    valkey = create_valkey(settings)

    @asynccontextmanager
    async def runtime(app: Litestar) -> AsyncIterator[None]:
        if owns_engine:
            await search_engine.start()
        app.state.search = SearchRuntime.build(settings, search_engine, temporal)
        try:
            yield
        finally:
            if owns_engine:
                await search_engine.close()
            await http.aclose()
            await valkey.aclose()

    async def engine_ready() -> None:
        await search_engine.ping()

    return create_service_app(
        service=SERVICE,
        settings=settings,
        route_handlers=ROUTE_HANDLERS,
        readiness_checks={"engine": engine_ready, "valkey": valkey_check(valkey)},
        key_set=keys,
        denylist=ValkeyDenylist(valkey),
        lifespan=[runtime],
        dependencies=DEPENDENCIES,
        description=DESCRIPTION,
    )
