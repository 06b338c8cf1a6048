"""What identity's route handlers receive: services, the caller, where the call came from.

Everything long-lived (the engine, Valkey, the signing keys, the Temporal client) is built
once per app in `IdentityRuntime` and kept in ``app.state.identity``; handlers get it through
Litestar's dependency injection, never through globals.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from litestar import Request
from litestar.di import NamedDependency, Provide
from valkey.asyncio import Valkey

from api.common.auth import KeySetProvider, TokenClaims, ValkeyDenylist, provide_claims
from api.common.pagination import provide_page_params
from api.common.settings import Settings
from api.common.tenancy import platform_transaction, tenant_transaction
from api.identity.keys import SigningKeyStore
from api.identity.passwords import PasswordHasher
from api.identity.service import (
    Actor,
    AuthService,
    InvitationService,
    Origin,
    SignupService,
    TemporalGateway,
    TenantService,
    UserService,
)
from api.identity.throttle import LoginThrottle, ThrottlePolicy
from api.identity.tokens import AccessTokenIssuer, SessionAccessTokens


@dataclass
class IdentityRuntime:
    """The identity service's collaborators, wired once the database engine exists."""

    settings: Settings
    engine: Any
    valkey: Valkey
    keys: SigningKeyStore
    denylist: ValkeyDenylist
    hasher: PasswordHasher
    throttle: LoginThrottle
    session_tokens: SessionAccessTokens
    issuer: AccessTokenIssuer
    temporal: TemporalGateway
    tenants: TenantService
    users: UserService
    auth: AuthService
    signups: SignupService
    invitations: InvitationService

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        engine: Any,
        valkey: Valkey,
        keys: SigningKeyStore,
        denylist: ValkeyDenylist,
        hasher: PasswordHasher,
        policy: ThrottlePolicy,
        temporal: TemporalGateway,
        key_set: KeySetProvider,
        invitation_task_queue: str | None = None,
    ) -> IdentityRuntime:
        throttle = LoginThrottle(valkey, policy)
        session_tokens = SessionAccessTokens(valkey, denylist)
        issuer = AccessTokenIssuer(settings, keys)
        return cls(
            settings=settings,
            engine=engine,
            valkey=valkey,
            keys=keys,
            denylist=denylist,
            hasher=hasher,
            throttle=throttle,
            session_tokens=session_tokens,
            issuer=issuer,
            temporal=temporal,
            tenants=TenantService(settings, session_tokens),
            users=UserService(settings, hasher, session_tokens),
            auth=AuthService(settings, engine, hasher, issuer, throttle, session_tokens, key_set, denylist),
            signups=SignupService(settings, engine, hasher, throttle, temporal),
            invitations=(
                InvitationService(temporal)
                if invitation_task_queue is None
                else InvitationService(temporal, task_queue=invitation_task_queue)
            ),
        )

    def tenant_scope(self, tenant_id: UUID | str) -> AbstractAsyncContextManager[Any]:
        """The request's transaction, seeing only `tenant_id`'s rows."""
        return tenant_transaction(self.engine, tenant_id)

    def platform_scope(self) -> AbstractAsyncContextManager[Any]:
        """The request's transaction across tenants: SUPERADMIN routes only."""
        return platform_transaction(self.engine)


def provide_runtime(request: Request[Any, Any, Any]) -> IdentityRuntime:
    runtime: IdentityRuntime = request.app.state.identity
    return runtime


def provide_actor(claims: NamedDependency[TokenClaims]) -> Actor:
    return Actor(
        user_id=claims.user_id,
        tenant_id=claims.tenant_id,
        roles=tuple(claims.roles),
        session_id=UUID(claims.session_id) if claims.session_id else None,
    )


def provide_origin(request: Request[Any, Any, Any]) -> Origin:
    """The client's address as uvicorn resolved it (proxy headers only from trusted proxies)."""
    client = request.client
    return Origin(ip=client.host if client else None, user_agent=request.headers.get("user-agent"))


DEPENDENCIES: dict[str, Provide] = {
    "identity": Provide(provide_runtime, sync_to_thread=False),
    "claims": Provide(provide_claims, sync_to_thread=False),
    "actor": Provide(provide_actor, sync_to_thread=False),
    "origin": Provide(provide_origin, sync_to_thread=False),
    "paging": Provide(provide_page_params, sync_to_thread=False),
}
