"""Shared by identity's integration and security tests: a running app and tenants made through it.

Tenants and users are created with identity's own service functions inside the running
app's runtime (the same engine, Valkey and keys the HTTP requests use), never with raw SQL.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import pytest
from litestar import Litestar

from api.common.settings import Settings
from api.identity.app import create_app
from api.identity.deps import IdentityRuntime
from api.identity.repository import TenantRecord, UserRecord
from api.identity.service import Actor, Origin, TenantDraft, UserDraft
from api.identity.throttle import ThrottlePolicy

DEFAULT_PASSWORD = "correct horse battery staple"


def identity_settings(stack_settings: Settings, **overrides: Any) -> Settings:
    """The session's stack with limits high enough that tests do not trip over each other."""
    values: dict[str, Any] = {"login_rate_per_minute": 10_000, "signup_rate_per_hour": 10_000}
    values.update(overrides)
    return stack_settings.model_copy(update=values)


class IdentityClient(httpx.AsyncClient):
    """An HTTP client bound to one in-process identity app, on the test's own event loop.

    Litestar's AsyncTestClient serves the app from a portal thread with its own loop, where
    neither the asyncpg pool nor truly concurrent requests (the racing-refresh test) work;
    httpx's ASGI transport runs the app on the caller's loop instead.
    """

    def __init__(self, app: Litestar, *, address: str = "203.0.113.10") -> None:
        super().__init__(
            transport=httpx.ASGITransport(app=cast(Any, app), client=(address, 40000)),
            base_url="http://identity.test",
        )
        self.app = app

    def from_address(self, address: str) -> IdentityClient:
        """Another client of the same running app, as if called from `address`."""
        return IdentityClient(self.app, address=address)


@asynccontextmanager
async def running_client(
    settings: Settings, *, policy: ThrottlePolicy | None = None, invitation_task_queue: str | None = None
) -> AsyncIterator[IdentityClient]:
    """The app's lifespan runs in a task of its own: pytest-asyncio may set a module fixture
    up and tear it down from different tasks, which anyio's cancel scopes refuse.

    Its invitation workflows go to a queue of its own (no worker serves it unless a test runs
    one), never to the ``identity`` queue another test's worker may be polling."""
    app = create_app(
        settings,
        throttle_policy=policy,
        invitation_task_queue=invitation_task_queue or f"identity-test-{uuid.uuid4().hex[:8]}",
    )
    started, stopping = asyncio.Event(), asyncio.Event()

    async def serve() -> None:
        async with app.lifespan():
            started.set()
            await stopping.wait()

    server = asyncio.create_task(serve())
    await asyncio.wait([server, asyncio.create_task(started.wait())], return_when=asyncio.FIRST_COMPLETED)
    if server.done():
        server.result()
    try:
        async with IdentityClient(app) as client:
            yield client
    finally:
        stopping.set()
        await server


def runtime_of(client: IdentityClient) -> IdentityRuntime:
    runtime: IdentityRuntime = client.app.state.identity
    return runtime


def unique_slug(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class SeededUser:
    record: UserRecord
    password: str

    @property
    def email(self) -> str:
        return self.record.email

    @property
    def user_id(self) -> uuid.UUID:
        return self.record.user_id


@dataclass
class SeededTenant:
    tenant: TenantRecord
    owner: SeededUser
    users: dict[str, SeededUser] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        return self.tenant.slug

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.tenant.tenant_id


def bootstrap_actor(tenant_id: uuid.UUID) -> Actor:
    """Stands for the onboarding saga, which creates a tenant's first OWNER."""
    return Actor(user_id=uuid.uuid4(), tenant_id=tenant_id, roles=("OWNER",))


async def seed_tenant(
    client: IdentityClient,
    *,
    plan: str = "PRO",
    status: str = "ACTIVE",
    default_locale: str = "pt_BR",
    members: tuple[tuple[str, str], ...] = (),
    owner_locale: str | None = None,
) -> SeededTenant:
    """A tenant with an OWNER and, for each (name, role) of `members`, one more user."""
    runtime = runtime_of(client)
    slug = unique_slug()
    async with runtime.platform_scope():
        tenant = await runtime.tenants.create_tenant(
            None,
            TenantDraft(
                name=f"Tenant {slug}", slug=slug, plan=plan, status=status, default_locale=default_locale
            ),
            Origin(),
        )
    seeded: SeededTenant | None = None
    async with runtime.tenant_scope(tenant.tenant_id):
        actor = bootstrap_actor(tenant.tenant_id)
        owner = await runtime.users.create_user(
            actor,
            UserDraft(
                email=f"owner@{slug}.example.com",
                full_name="Olivia Owner",
                role="OWNER",
                locale=owner_locale,
                password=DEFAULT_PASSWORD,
            ),
            Origin(),
        )
        seeded = SeededTenant(tenant=tenant, owner=SeededUser(owner, DEFAULT_PASSWORD))
        for name, role in members:
            user = await runtime.users.create_user(
                actor,
                UserDraft(
                    email=f"{name}@{slug}.example.com",
                    full_name=name.title(),
                    role=role,
                    password=DEFAULT_PASSWORD,
                ),
                Origin(),
            )
            seeded.users[name] = SeededUser(user, DEFAULT_PASSWORD)
    return seeded


async def login(
    client: IdentityClient, slug: str, email: str, password: str = DEFAULT_PASSWORD, **headers: str
) -> dict[str, Any]:
    response = await client.post(
        "/v1/auth/login", json={"tenantSlug": slug, "email": email, "password": password}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['accessToken']}"}


async def clear_throttle(client: IdentityClient) -> None:
    await runtime_of(client).throttle.clear()


# -- fixtures, imported by the conftest of each identity test folder ----------------------------


@pytest.fixture(scope="module")
def settings(stack_settings: Settings) -> Settings:
    return identity_settings(stack_settings)


@pytest.fixture(scope="module")
async def client(settings: Settings) -> AsyncIterator[IdentityClient]:
    async with running_client(settings) as test_client:
        yield test_client


@pytest.fixture(autouse=True)
async def fresh_throttle(client: IdentityClient) -> None:
    """Every test starts with no failure counters: they are per address, and all tests share one."""
    await clear_throttle(client)
