"""Shared by content's integration and security tests: a running content app and its callers.

Content never calls identity: it only verifies access tokens. Tests sign real Ed25519 tokens
with a key of their own (with the ``plan`` claim identity adds) and hand the app a
`StaticKeySet` of it; tenants and users are fresh UUIDs in those tokens.

The app runs in the test's own event loop (httpx's ASGI transport inside the app's
lifespan), so concurrent requests really are concurrent, and the test may use the app's
engine and Temporal client directly.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
from joserfc.jwk import OKPKey
from litestar import Litestar
from temporalio.client import Client

from api.common.auth import StaticKeySet
from api.common.settings import PlanQuota, Settings
from api.content import repository
from api.content.app import create_app
from api.content.deps import ContentRuntime
from api.content.repository import ContentRequestRecord, NewContentRequest
from tests.unit.common.token_factory import new_signing_key, sign_access_token
from workflows.report_generation_types import REPORT_REQUEST_TYPE, report_workflow_id


@dataclass(frozen=True)
class Caller:
    """A user of a tenant, with a signed access token for content."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    roles: tuple[str, ...]
    token: str
    jti: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def with_headers(self, **headers: str) -> dict[str, str]:
        return {**self.headers, **{name.replace("_", "-"): value for name, value in headers.items()}}


class TokenMint:
    """Signs tokens the way identity does, with a key the test app trusts."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.key: OKPKey = new_signing_key()
        self.key_set = StaticKeySet([self.key])

    def caller(
        self,
        tenant_id: uuid.UUID | None = None,
        *,
        roles: tuple[str, ...] = ("MEMBER",),
        plan: str | None = "FREE",
        **claims: Any,
    ) -> Caller:
        """`plan=None` leaves the claim out, as tokens issued before it existed."""
        tenant = tenant_id or uuid.uuid4()
        user = uuid.uuid4()
        jti = uuid.uuid4().hex
        token = sign_access_token(
            self.key,
            self.settings,
            sub=str(user),
            tid=str(tenant),
            roles=list(roles),
            jti=jti,
            plan=plan,
            **claims,
        )
        return Caller(user_id=user, tenant_id=tenant, roles=roles, token=token, jti=jti)


class ContentClient(httpx.AsyncClient):
    """An HTTP client talking to one content app in-process; `runtime` is the app's own."""

    def __init__(self, app: Litestar) -> None:
        # Litestar's __call__ is typed with its own ASGI types, which httpx's protocol does not name.
        transport = httpx.ASGITransport(app=cast("Any", app))
        super().__init__(transport=transport, base_url="http://content.test")
        self.app = app

    @property
    def runtime(self) -> ContentRuntime:
        runtime: ContentRuntime = self.app.state.content
        return runtime


def fresh_queue_name() -> str:
    return f"content-test-{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def running_content(
    settings: Settings,
    mint: TokenMint,
    *,
    task_queue: str | None = None,
    temporal_client: Client | None = None,
    video_task_queue: str | None = None,
) -> AsyncIterator[ContentClient]:
    """The app over the session's stack; its workflows go to a task queue of their own."""
    app = create_app(
        settings,
        key_set=mint.key_set,
        temporal_client=temporal_client,
        content_task_queue=task_queue or fresh_queue_name(),
        video_task_queue=video_task_queue or fresh_queue_name(),
    )
    async with _lifespan(app), ContentClient(app) as client:
        yield client


@asynccontextmanager
async def _lifespan(app: Litestar) -> AsyncIterator[None]:
    """The app's lifespan, entered and left in one task of its own.

    Litestar's lifespan holds an anyio task group, which must be exited by the task that
    entered it; a module fixture's setup and teardown run in different tasks.
    """
    started, stopping = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with app.lifespan():
            started.set()
            await stopping.wait()

    holder = asyncio.create_task(hold())
    waiting = asyncio.create_task(started.wait())
    await asyncio.wait({holder, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if holder.done():
        waiting.cancel()
        await holder  # raises what broke the startup
    try:
        yield
    finally:
        stopping.set()
        await holder


def with_quotas(settings: Settings, **reports_per_month: int) -> Settings:
    """The settings with these plans only, each allowing that many reports a month."""
    plans = {
        plan: PlanQuota(max_users=5, reports_per_month=limit, videos_per_year=1)
        for plan, limit in reports_per_month.items()
    }
    return settings.model_copy(update={"plans": plans})


def report_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": f"Relatório {uuid.uuid4().hex[:6]}",
        "format": "pdf",
        "from": "2026-01-01",
        "to": "2026-03-31",
        "includeTags": ["api"],
        "excludeTags": [],
        "groupBy": ["language"],
    }
    body.update(overrides)
    return {name: value for name, value in body.items() if value is not None}


async def create_report(
    client: httpx.AsyncClient, caller: Caller, *, headers: dict[str, str] | None = None, **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/reports", json=report_body(**overrides), headers={**caller.headers, **(headers or {})}
    )
    assert response.status_code == 202, response.text
    created: dict[str, Any] = response.json()
    return created


async def insert_unstarted(
    runtime: ContentRuntime,
    caller: Caller,
    *,
    title: str = "Sem workflow",
    created_at: datetime | None = None,
) -> ContentRequestRecord:
    """A PENDING request whose workflow was never started (a crash between commit and start)."""
    request_id = uuid.uuid4()
    async with runtime.work(caller.tenant_id) as work:
        record = await repository.insert_request(
            work.connection,
            NewContentRequest(
                request_id=request_id,
                tenant_id=caller.tenant_id,
                user_id=caller.user_id,
                type=REPORT_REQUEST_TYPE,
                title=title,
                locale="pt_BR",
                format="pdf",
                workflow_id=report_workflow_id(str(caller.tenant_id), str(request_id)),
                parameters={"time_zone": "America/Sao_Paulo", "group_by": []},
            ),
        )
        if created_at is not None:
            await work.connection.execute(
                "UPDATE content_requests SET created_at = $2 WHERE request_id = $1", request_id, created_at
            )
    assert record is not None
    return record


def path_of(url: str) -> str:
    """The path and query of a link (the test client talks to the app, not the edge)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def utc_now() -> datetime:
    return datetime.now(UTC)
