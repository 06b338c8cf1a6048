"""The identity service's app factory (``uvicorn --factory api.identity.app:create_app``).

Identity verifies its own access tokens with the same middleware as every other service,
but reads its public keys from its key folder instead of calling its own JWKS over HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar
from temporalio.client import Client

from api.common.app import create_service_app
from api.common.auth import ValkeyDenylist
from api.common.health import database_check, temporal_check, valkey_check
from api.common.i18n import register_catalog_dir
from api.common.settings import Settings
from api.common.valkey import create_valkey
from api.identity.database import identity_database
from api.identity.deps import DEPENDENCIES, IdentityRuntime
from api.identity.keys import LocalKeySetProvider, SigningKeyStore
from api.identity.passwords import PasswordHasher
from api.identity.routes import ROUTE_HANDLERS
from api.identity.service import TemporalGateway
from api.identity.throttle import ThrottlePolicy

LOCALE_DIR = Path(__file__).parent / "locale"

DESCRIPTION = (
    "Tenants, users, login with Ed25519 access tokens and rotating refresh tokens, "
    "sessions, the audit log, invitations (the UserInvitation workflow) and self sign-up "
    "(the TenantOnboarding workflow)."
)


def create_app(
    settings: Settings | None = None,
    *,
    throttle_policy: ThrottlePolicy | None = None,
    temporal_client: Client | None = None,
    invitation_task_queue: str | None = None,
) -> Litestar:
    """`throttle_policy`, `temporal_client` and `invitation_task_queue` let tests shorten delays,
    share a client, or send invitation workflows to a queue of their own."""
    settings = settings or Settings()
    register_catalog_dir(LOCALE_DIR)
    keys = SigningKeyStore.from_settings(settings)
    keys.ensure()
    key_set = LocalKeySetProvider(keys)
    valkey = create_valkey(settings)
    denylist = ValkeyDenylist(valkey)
    hasher = PasswordHasher(settings)
    temporal = TemporalGateway(settings, temporal_client)
    policy = throttle_policy or ThrottlePolicy.from_settings(settings)

    @asynccontextmanager
    async def runtime(app: Litestar) -> AsyncIterator[None]:
        async with identity_database(settings) as database:
            app.state.identity = IdentityRuntime.build(
                settings,
                engine=database.engine,
                valkey=valkey,
                keys=keys,
                denylist=denylist,
                hasher=hasher,
                policy=policy,
                temporal=temporal,
                key_set=key_set,
                invitation_task_queue=invitation_task_queue,
            )
            try:
                yield
            finally:
                await valkey.aclose()

    async def database_ready() -> None:
        await database_check(app.state.identity.engine)()

    async def temporal_ready() -> None:
        await temporal_check(await temporal.client())()

    app = create_service_app(
        service="identity",
        settings=settings,
        route_handlers=ROUTE_HANDLERS,
        readiness_checks={
            "database": database_ready,
            "valkey": valkey_check(valkey),
            "temporal": temporal_ready,
        },
        key_set=key_set,
        denylist=denylist,
        lifespan=[runtime],
        dependencies=DEPENDENCIES,
        description=DESCRIPTION,
    )
    return app
