"""What the dojo service's handlers receive: the runtime and the caller.

Everything long-lived (engine, Valkey, storage, the token checks, the service, the room access)
is built once per app in `DojoRuntime` and kept in ``app.state.dojos``; handlers get it through
Litestar's dependency injection (``dojos: NamedDependency[DojoRuntime]``). Sockets check their
tokens with `realtime.socket_auth.SocketAuthenticator`.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from litestar.di import NamedDependency, Provide
from litestar.types import Scope
from temporalio.client import Client
from valkey.asyncio import Valkey

from api.common.auth import (
    AccessDenylist,
    KeySetProvider,
    TokenClaims,
    provide_claims,
)
from api.common.pagination import provide_page_params
from api.common.settings import Settings
from api.common.storage import BlobStorage
from realtime.dojos.access import DojoRoomAccess
from realtime.dojos.service import Actor, DojoService
from realtime.dojos.unit_of_work import UnitOfWork, unit_of_work
from realtime.ports import LiveRooms
from temporal.client import connect_client

TEMPORAL_CONNECT_TIMEOUT_SECONDS = 3.0


@dataclass
class DojoRuntime:
    settings: Settings
    engine: Any
    valkey: Valkey
    storage: BlobStorage
    key_set: KeySetProvider
    denylist: AccessDenylist
    dojos: DojoService
    room_access: DojoRoomAccess
    temporal_client: Client | None = None
    _temporal_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def work(self, tenant_id: UUID) -> AbstractAsyncContextManager[UnitOfWork]:
        """A transaction in `tenant_id` under row-level security (the live side's writes too)."""
        return unit_of_work(self.engine, tenant_id)

    @property
    def live(self) -> LiveRooms | None:
        return self.dojos.live

    async def temporal(self) -> Client:
        """The process's Temporal client, connected on first use when none was given."""
        if self.temporal_client is not None:
            return self.temporal_client
        async with self._temporal_lock:
            if self.temporal_client is None:
                self.temporal_client = await asyncio.wait_for(
                    connect_client(self.settings), timeout=TEMPORAL_CONNECT_TIMEOUT_SECONDS
                )
            return self.temporal_client


def provide_runtime(scope: Scope) -> DojoRuntime:
    """For HTTP and WebSocket handlers alike."""
    runtime: DojoRuntime = scope["app"].state.dojos
    return runtime


def provide_actor(claims: NamedDependency[TokenClaims]) -> Actor:
    return Actor(user_id=claims.user_id, tenant_id=claims.tenant_id, roles=tuple(claims.roles))


DEPENDENCIES: dict[str, Provide] = {
    "dojos": Provide(provide_runtime, sync_to_thread=False),
    "claims": Provide(provide_claims, sync_to_thread=False),
    "actor": Provide(provide_actor, sync_to_thread=False),
    "paging": Provide(provide_page_params, sync_to_thread=False),
}
