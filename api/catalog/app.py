"""The catalog service's app factory (``uvicorn --factory api.catalog.app:create_app``).

Readiness checks the database and Valkey (the token denylist) but not Temporal: writes
succeed while Temporal is down, and the reconciliation indexes them later, so taking the
catalog out of the load balancer for it would turn a delay into an outage.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from litestar import Litestar
from temporalio.client import Client

from api.catalog.deps import DEPENDENCIES, CatalogRuntime
from api.catalog.indexing import IndexingGateway
from api.catalog.piccolo_conf import build_engine
from api.catalog.routes import ROUTE_HANDLERS
from api.catalog.thumbnails import catalog_blob_storage
from api.common.app import create_service_app
from api.common.auth import KeySetProvider, ValkeyDenylist, build_key_set_provider
from api.common.health import database_check, valkey_check
from api.common.i18n import register_catalog_dir
from api.common.settings import Settings
from api.common.valkey import create_valkey
from workflows.poc_indexing_types import TASK_QUEUE as INDEXING_QUEUE

LOCALE_DIR = Path(__file__).parent / "locale"

DESCRIPTION = (
    "Proofs of concept: register, change, delete and restore them, with tags, frameworks, "
    "languages and thumbnails. Every change is handed to the PocIndexing workflow."
)


def create_app(
    settings: Settings | None = None,
    *,
    key_set: KeySetProvider | None = None,
    temporal_client: Client | None = None,
    indexing_task_queue: str = INDEXING_QUEUE,
) -> Litestar:
    """`key_set` defaults to identity's JWKS; tests pass their own keys, client and task queue."""
    settings = settings or Settings()
    register_catalog_dir(LOCALE_DIR)
    http = httpx.AsyncClient()
    keys = key_set or build_key_set_provider(settings, http)
    valkey = create_valkey(settings)
    denylist = ValkeyDenylist(valkey)
    storage = catalog_blob_storage(settings)
    indexing = IndexingGateway(settings, temporal_client, task_queue=indexing_task_queue)
    engine = build_engine(settings)

    @asynccontextmanager
    async def runtime(app: Litestar) -> AsyncIterator[None]:
        await engine.start_connection_pool(min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        app.state.catalog = CatalogRuntime.build(settings, engine=engine, storage=storage, indexing=indexing)
        try:
            yield
        finally:
            await engine.close_connection_pool()
            await valkey.aclose()
            await http.aclose()

    return create_service_app(
        service="catalog",
        settings=settings,
        route_handlers=ROUTE_HANDLERS,
        readiness_checks={"database": database_check(engine), "valkey": valkey_check(valkey)},
        key_set=keys,
        denylist=denylist,
        lifespan=[runtime],
        dependencies=DEPENDENCIES,
        description=DESCRIPTION,
    )
