"""What the dojo service's handlers receive: the runtime and the caller.

Everything long-lived (engine, Valkey, storage, the token checks, the service, the room access)
is built once per app in `DojoRuntime` and kept in ``app.state.dojos``; handlers get it through
Litestar's dependency injection (``dojos: NamedDependency[DojoRuntime]``), ASGI mounts through
``scope["app"].state.dojos``. The live rooms and the session channel, mounted beside the REST
routes, find there what they share with it: `room_access`, `claims_for_token`, `work`, the
Temporal client and the Valkey client.
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
    VerifiedTokenCache,
    provide_claims,
    verify_access_token,
)
from api.common.errors import AuthenticationError, ProblemError
from api.common.i18n import N_, current_locale, translate
from api.common.pagination import provide_page_params
from api.common.settings import Settings
from api.common.storage import BlobStorage
from realtime.dojos.access import DojoRoomAccess
from realtime.dojos.service import Actor, DojoService
from realtime.dojos.unit_of_work import UnitOfWork, unit_of_work
from realtime.ports import AccessRefused, LiveRooms
from temporal.client import connect_client

CLOSE_UNAUTHENTICATED = 4401
CLOSE_TRY_AGAIN_LATER = 1013
"""RFC 6455's "try again later": the token could not be checked (the denylist is unreachable)."""
TEMPORAL_CONNECT_TIMEOUT_SECONDS = 3.0
_EXPIRED = N_("The access token has expired.")


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
    verified_tokens: VerifiedTokenCache = field(default_factory=VerifiedTokenCache)
    _temporal_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def work(self, tenant_id: UUID) -> AbstractAsyncContextManager[UnitOfWork]:
        """A transaction in `tenant_id` under row-level security (the live side's writes too)."""
        return unit_of_work(self.engine, tenant_id)

    @property
    def live(self) -> LiveRooms | None:
        return self.dojos.live

    def attach_live(self, live: LiveRooms | None) -> None:
        """Connect the live rooms once they exist (from a lifespan that builds them)."""
        self.dojos.live = live

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

    async def claims_for_token(self, token: str | None) -> TokenClaims:
        """A socket's access token checked as the HTTP middleware checks it, or `AccessRefused`.

        Browsers cannot set headers on a WebSocket, so sockets send ``?access_token=``; the
        routes that serve them are public to the middleware and call this on open.
        """
        locale = current_locale.get()
        if not token:
            raise AccessRefused(
                CLOSE_UNAUTHENTICATED,
                "token-missing",
                translate(locale, N_("Send the access token as ?access_token=... or a Bearer header.")),
            )
        try:
            claims = await verify_access_token(token, self.key_set, self.settings, cache=self.verified_tokens)
        except AuthenticationError as exc:
            reason = "token-expired" if exc.detail == _EXPIRED else "token-invalid"
            raise AccessRefused(CLOSE_UNAUTHENTICATED, reason, exc.render_detail(locale) or "") from exc
        except ProblemError as exc:  # identity's keys are unreachable: nothing was decided yet
            raise _try_again_later(locale) from exc
        try:
            revoked = await self.denylist.is_revoked(claims.jti)
        except Exception as exc:
            raise _try_again_later(locale) from exc
        if revoked:
            raise AccessRefused(
                CLOSE_UNAUTHENTICATED,
                "token-revoked",
                translate(locale, N_("The access token has been revoked.")),
            )
        return claims


def _try_again_later(locale: str) -> AccessRefused:
    return AccessRefused(
        CLOSE_TRY_AGAIN_LATER,
        "try-again-later",
        translate(locale, N_("Authentication is temporarily unavailable.")),
    )


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
