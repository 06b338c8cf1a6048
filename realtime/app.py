"""The realtime service's app factory (``uvicorn --factory realtime.app:create_app``).

The dojos' REST routes are built here; the live parts (the Yjs code rooms and the session
channel) are mounted beside them by whoever assembles the service, without this module knowing
their code: their route handlers go in `extra_route_handlers` (WebSocket handlers and ASGI mounts
under ``/v1/dojos/{dojo_id}/``, with ``opt={"public": True}`` since sockets authenticate
themselves with ``?access_token=`` through ``app.state.dojos.claims_for_token``), their start
and stop in `lifespans` (entered after the database pool is up, left before it closes), and the
live rooms in `live` (or later, from a lifespan, with ``app.state.dojos.attach_live``).

Readiness checks the database and Valkey (the token denylist and the rooms' fan-out) but not
Temporal: without it only "Run" fails, and that is said in the room.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from litestar import Litestar
from litestar.types import ControllerRouterHandler
from temporalio.client import Client

from api.common.app import Lifespan, create_service_app
from api.common.auth import KeySetProvider, ValkeyDenylist, build_key_set_provider
from api.common.health import database_check, valkey_check
from api.common.i18n import register_catalog_dir
from api.common.settings import Settings
from api.common.storage import local_blob_storage
from api.common.valkey import create_valkey
from realtime.dojos.access import DojoRoomAccess
from realtime.dojos.deps import DEPENDENCIES, DojoRuntime
from realtime.dojos.indexing import DojoIndexingGateway
from realtime.dojos.piccolo_conf import SERVICE, build_engine
from realtime.dojos.routes import ROUTE_HANDLERS
from realtime.dojos.service import DojoChangeListener, DojoService, FinalSnapshotTaker
from realtime.dojos.snapshots import LiveCodeFinalSnapshot
from realtime.dojos.throttle import ValkeyJoinCodeThrottle
from realtime.ports import LiveRooms

LOCALE_DIR = Path(__file__).parent / "dojos" / "locale"

DESCRIPTION = (
    "Live coding dojos: create, list, join (by id or join code), start, end and cancel them; "
    "PARTICIPANTs edit the shared code, OBSERVERs follow and chat. A dojo's wsUrl, codeUrl and "
    "sessionUrl say where its WebSockets are (the code is a Yjs document served with the "
    "y-websocket protocol; the session channel carries the chat, the randori timer and runs)."
)


def create_app(
    settings: Settings | None = None,
    *,
    key_set: KeySetProvider | None = None,
    temporal_client: Client | None = None,
    live: LiveRooms | None = None,
    extra_route_handlers: Sequence[ControllerRouterHandler] = (),
    lifespans: Sequence[Lifespan] = (),
    dojo_changes: DojoChangeListener | None = None,
    final_snapshot: FinalSnapshotTaker | None = None,
) -> Litestar:
    """`key_set` defaults to identity's JWKS; `temporal_client` is connected on first use when None.

    `dojo_changes` hears of every committed change of a dojo with its new version; by default
    the DojoIndexing workflow is started for it (`DojoIndexingGateway`). `final_snapshot` keeps
    a dojo's last code when it ends; by default the live room's code is read and stored here
    (`LiveCodeFinalSnapshot`).
    """
    settings = settings or Settings()
    register_catalog_dir(LOCALE_DIR)
    http = httpx.AsyncClient()
    keys = key_set or build_key_set_provider(settings, http)
    valkey = create_valkey(settings)
    denylist = ValkeyDenylist(valkey)
    storage = local_blob_storage(settings)
    engine = build_engine(settings)
    service = DojoService(storage, live=live, changes=dojo_changes, throttle=ValkeyJoinCodeThrottle(valkey))
    service.final_snapshot = final_snapshot or LiveCodeFinalSnapshot(engine, storage, lambda: service.live)
    runtime = DojoRuntime(
        settings=settings,
        engine=engine,
        valkey=valkey,
        storage=storage,
        key_set=keys,
        denylist=denylist,
        dojos=service,
        room_access=DojoRoomAccess(engine),
        temporal_client=temporal_client,
    )

    @asynccontextmanager
    async def database_pool(_: Litestar) -> AsyncIterator[None]:
        await engine.start_connection_pool(min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        try:
            yield
        finally:
            await engine.close_connection_pool()
            await valkey.aclose()
            await http.aclose()

    app = create_service_app(
        service=SERVICE,
        settings=settings,
        route_handlers=[*ROUTE_HANDLERS, *extra_route_handlers],
        readiness_checks={"database": database_check(engine), "valkey": valkey_check(valkey)},
        key_set=keys,
        denylist=denylist,
        lifespan=[database_pool, *lifespans],
        dependencies=DEPENDENCIES,
        description=DESCRIPTION,
    )
    if dojo_changes is None:
        service.changes = DojoIndexingGateway(runtime.temporal)
    app.state.dojos = runtime
    return app
