"""The realtime service's app factory (``uvicorn --factory realtime.app:create_app``).

Three parts make one instance: the dojos' REST routes (`realtime.dojos`), the live code rooms
(`realtime.live`: a Yjs document per dojo over the y-websocket protocol at
``/v1/dojos/{dojo_id}/code``) and the session channel (`realtime.session`: chat, presence, the
randori timer, "Run" and snapshots at ``/v1/dojos/{dojo_id}/session``). Sockets authenticate
themselves (``?access_token=``) and are admitted by the REST side's `DojoRoomAccess`; instances
share rooms and sessions through Valkey. Tests of the REST side alone pass a `live` stand-in,
and then neither socket part is built.

Several instances run behind the edge (two in `make dev`); every HTTP response and every
WebSocket handshake carries ``X-Instance: <Settings.instance_name>``, so a client (and a test)
can tell which process it reached.

Readiness checks the database and Valkey (the token denylist and the rooms' fan-out) but not
Temporal: without it only "Run" fails, and that is said in the room.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import httpx
from litestar import Litestar
from litestar.types import ASGIApp, ControllerRouterHandler, Message, Receive, Scope, Send
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
from realtime.dojos.service import DojoChangeListener, DojoService
from realtime.dojos.throttle import ValkeyJoinCodeThrottle
from realtime.live import build_live_rooms
from realtime.ports import LiveRooms
from realtime.session import SessionEndingRooms, build_session_channel

LOCALE_DIR = Path(__file__).parent / "dojos" / "locale"

DESCRIPTION = (
    "Live coding dojos: create, list, join (by id or join code), start, end and cancel them; "
    "PARTICIPANTs edit the shared code, OBSERVERs follow and chat. A dojo's wsUrl, codeUrl and "
    "sessionUrl say where its WebSockets are (the code is a Yjs document served with the "
    "y-websocket protocol; the session channel carries the chat, the randori timer and runs)."
)

INSTANCE_HEADER = "x-instance"
"""Names the process that answered: on HTTP responses and on the WebSocket handshake (101)."""
_STARTS = frozenset({"http.response.start", "websocket.accept", "websocket.http.response.start"})


class InstanceHeader:
    """Adds `INSTANCE_HEADER` to every response start and WebSocket accept of this process."""

    def __init__(self, app: ASGIApp, instance: str) -> None:
        self.app = app
        self.header = (INSTANCE_HEADER.encode("latin-1"), instance.encode("latin-1"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_instance(message: Message) -> None:
            if message["type"] in _STARTS:
                started: dict[str, Any] = dict(message)
                started["headers"] = [*(started.get("headers") or ()), self.header]
                message = cast("Message", started)
            await send(message)

        await self.app(scope, receive, send_with_instance)


def create_app(
    settings: Settings | None = None,
    *,
    key_set: KeySetProvider | None = None,
    temporal_client: Client | None = None,
    live: LiveRooms | None = None,
    dojo_changes: DojoChangeListener | None = None,
) -> Litestar:
    """`key_set` defaults to identity's JWKS; `temporal_client` is connected on first use when None.

    `dojo_changes` hears of every committed change of a dojo with its new version; by default
    the DojoIndexing workflow is started for it (`DojoIndexingGateway`).
    """
    settings = settings or Settings()
    register_catalog_dir(LOCALE_DIR)
    http = httpx.AsyncClient()
    keys = key_set or build_key_set_provider(settings, http)
    valkey = create_valkey(settings)
    denylist = ValkeyDenylist(valkey)
    storage = local_blob_storage(settings)
    engine = build_engine(settings)
    room_access = DojoRoomAccess(engine)
    handlers: list[ControllerRouterHandler] = [*ROUTE_HANDLERS]
    started: list[Lifespan] = []
    if live is None:
        # The live code rooms and the session channel of this instance. Ending a dojo ends its
        # session first (the FINAL snapshot still reads the live code), then closes the rooms.
        live_rooms = build_live_rooms(settings, access=room_access, key_set=keys, denylist=denylist)
        session = build_session_channel(
            settings,
            access=room_access,
            live=live_rooms,
            key_set=keys,
            denylist=denylist,
            valkey=valkey,
            temporal_client=temporal_client,
            storage=storage,
            engine=engine,
        )
        live = SessionEndingRooms(live_rooms, session)
        handlers += [*live_rooms.route_handlers, *session.route_handlers]
        started += [live_rooms.lifespan, session.lifespan]
    service = DojoService(storage, live=live, changes=dojo_changes, throttle=ValkeyJoinCodeThrottle(valkey))
    runtime = DojoRuntime(
        settings=settings,
        engine=engine,
        valkey=valkey,
        storage=storage,
        key_set=keys,
        denylist=denylist,
        dojos=service,
        room_access=room_access,
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
        route_handlers=handlers,
        readiness_checks={"database": database_check(engine), "valkey": valkey_check(valkey)},
        key_set=keys,
        denylist=denylist,
        lifespan=[database_pool, *started],
        dependencies=DEPENDENCIES,
        description=DESCRIPTION,
    )
    app.asgi_handler = InstanceHeader(app.asgi_handler, settings.instance_name)
    if dojo_changes is None:
        service.changes = DojoIndexingGateway(runtime.temporal)
    app.state.dojos = runtime
    return app
