"""The content service's app factory (``uvicorn --factory api.content.app:create_app``).

Readiness checks the database and Valkey (the token denylist) but not Temporal: without it
new reports are refused with a clear 503, while lists, progress and downloads keep working,
so taking content out of the load balancer for it would turn one refusal into an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from litestar import Litestar
from temporalio.client import Client

from api.common.app import create_service_app
from api.common.auth import KeySetProvider, ValkeyDenylist, build_key_set_provider
from api.common.health import database_check, valkey_check
from api.common.i18n import register_catalog_dir
from api.common.settings import Settings
from api.common.valkey import create_valkey
from api.content.deps import DEPENDENCIES, ContentRuntime
from api.content.downloads import content_blob_storage
from api.content.piccolo_conf import build_engine
from api.content.queue import ContentQueue
from api.content.routes import ROUTE_HANDLERS
from api.content.service import known_time_zones
from workflows.report_generation_types import TASK_QUEUE as CONTENT_QUEUE
from workflows.yearly_video_types import TASK_QUEUE as VIDEO_QUEUE

LOCALE_DIR = Path(__file__).parent / "locale"

DESCRIPTION = (
    "Reports of your POCs (PDF, XLSX, CSV): request one, follow its progress, cancel it, and "
    "download the file through a signed, expiring link. Each request runs as a ReportGeneration "
    "workflow; plans limit how many reports a tenant requests per month. Yearly recap videos "
    "(MP4 with a thumbnail) work the same way as YearlyVideo workflows, limited per year."
)


def create_app(
    settings: Settings | None = None,
    *,
    key_set: KeySetProvider | None = None,
    temporal_client: Client | None = None,
    content_task_queue: str = CONTENT_QUEUE,
    video_task_queue: str = VIDEO_QUEUE,
) -> Litestar:
    """`key_set` defaults to identity's JWKS; tests pass their own keys, client and task queue."""
    settings = settings or Settings()
    register_catalog_dir(LOCALE_DIR)
    http = httpx.AsyncClient()
    keys = key_set or build_key_set_provider(settings, http)
    valkey = create_valkey(settings)
    denylist = ValkeyDenylist(valkey)
    storage = content_blob_storage(settings)
    queue = ContentQueue(
        settings, temporal_client, task_queue=content_task_queue, video_task_queue=video_task_queue
    )
    engine = build_engine(settings)

    @asynccontextmanager
    async def runtime(app: Litestar) -> AsyncIterator[None]:
        await engine.start_connection_pool(min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        app.state.content = ContentRuntime.build(settings, engine=engine, storage=storage, queue=queue)
        warm_up = asyncio.create_task(queue.warm_up())
        await asyncio.to_thread(known_time_zones)
        try:
            yield
        finally:
            warm_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await warm_up
            await engine.close_connection_pool()
            await valkey.aclose()
            await http.aclose()

    return create_service_app(
        service="content",
        settings=settings,
        route_handlers=ROUTE_HANDLERS,
        readiness_checks={"database": database_check(engine), "valkey": valkey_check(valkey)},
        key_set=keys,
        denylist=denylist,
        lifespan=[runtime],
        dependencies=DEPENDENCIES,
        description=DESCRIPTION,
    )
