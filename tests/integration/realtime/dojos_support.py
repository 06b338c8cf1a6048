"""Shared by the dojo API's integration and security tests: a running realtime app and its callers.

The realtime service never calls identity: it only verifies access tokens. Tests sign real
Ed25519 tokens with a key of their own and hand the app a `StaticKeySet` of it; tenants and
users are fresh UUIDs in those tokens. The app runs in the test's own event loop (httpx's ASGI
transport inside the app's lifespan), so concurrent requests really are concurrent and the test
may use the app's engine directly, as the application role.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import uvicorn
from joserfc.jwk import OKPKey
from litestar import Litestar

from api.common.auth import StaticKeySet
from api.common.settings import Settings
from infra.stack import free_port
from realtime.app import create_app
from realtime.dojos.deps import DojoRuntime
from realtime.live import LiveRoomsRuntime
from realtime.ports import LiveRooms
from realtime.session import SessionEndingRooms, SessionRuntime
from tests.unit.common.token_factory import new_signing_key, sign_access_token

BASE_URL = "http://dojos.test"


@dataclass(frozen=True)
class Caller:
    """A user of a tenant, with a signed access token."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    roles: tuple[str, ...]
    token: str
    jti: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def in_language(self, language: str) -> dict[str, str]:
        return {**self.headers, "Accept-Language": language}


class TokenMint:
    """Signs tokens the way identity does, with a key the test app trusts."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.key: OKPKey = new_signing_key()
        self.key_set = StaticKeySet([self.key])

    def caller(
        self, tenant_id: uuid.UUID | None = None, *, roles: tuple[str, ...] = ("MEMBER",), **claims: Any
    ) -> Caller:
        tenant = tenant_id or uuid.uuid4()
        user = uuid.uuid4()
        jti = uuid.uuid4().hex
        token = sign_access_token(
            self.key, self.settings, sub=str(user), tid=str(tenant), roles=list(roles), jti=jti, **claims
        )
        return Caller(user_id=user, tenant_id=tenant, roles=roles, token=token, jti=jti)


@dataclass
class StandInLiveRooms:
    """Stands in for the live side (`realtime.ports.LiveRooms`): a code per dojo, and the closes asked."""

    codes: dict[uuid.UUID, str] = field(default_factory=dict)
    closed: list[tuple[uuid.UUID, int, str]] = field(default_factory=list)
    calls: list[tuple[str, uuid.UUID]] = field(default_factory=list)
    """Every call in order, so a test sees the code read before the room closed, or the sockets
    of a dojo asked to check their admission again after its people changed."""

    async def code_of(self, dojo_id: uuid.UUID) -> str | None:
        self.calls.append(("code_of", dojo_id))
        return self.codes.get(dojo_id)

    async def close_room(self, dojo_id: uuid.UUID, code: int, reason: str) -> None:
        self.calls.append(("close_room", dojo_id))
        self.closed.append((dojo_id, code, reason))

    async def recheck(self, dojo_id: uuid.UUID) -> None:
        self.calls.append(("recheck", dojo_id))


@dataclass
class StandInChangeListener:
    """Stands in for the search's indexing: the (tenant, dojo, version) changes it was told of."""

    changes: list[tuple[uuid.UUID, uuid.UUID, int]] = field(default_factory=list)

    async def dojo_changed(self, tenant_id: uuid.UUID, dojo_id: uuid.UUID, version: int) -> None:
        self.changes.append((tenant_id, dojo_id, version))


class DojoClient(httpx.AsyncClient):
    """An HTTP client talking to one realtime app in-process; `runtime` is the app's own."""

    def __init__(self, app: Litestar) -> None:
        super().__init__(transport=httpx.ASGITransport(app=cast("Any", app)), base_url=BASE_URL)
        self.app = app

    @property
    def runtime(self) -> DojoRuntime:
        runtime: DojoRuntime = self.app.state.dojos
        return runtime


@asynccontextmanager
async def running_realtime(
    settings: Settings,
    mint: TokenMint,
    *,
    live: LiveRooms | None = None,
    changes: StandInChangeListener | None = None,
) -> AsyncIterator[DojoClient]:
    app = create_app(settings, key_set=mint.key_set, live=live, dojo_changes=changes)
    async with _lifespan(app), DojoClient(app) as client:
        yield client


@asynccontextmanager
async def _lifespan(app: Litestar) -> AsyncIterator[None]:
    """The app's lifespan, entered and left in one task of its own (Litestar's task group needs it)."""
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
        await holder
    try:
        yield
    finally:
        stopping.set()
        await holder


@dataclass
class ServedInstance:
    """One whole realtime process (REST, live code rooms, session channel) served by uvicorn."""

    port: int
    app: Litestar
    http: httpx.AsyncClient

    @property
    def runtime(self) -> DojoRuntime:
        runtime: DojoRuntime = self.app.state.dojos
        return runtime

    @property
    def live_rooms(self) -> LiveRoomsRuntime:
        rooms = self.runtime.live
        assert isinstance(rooms, SessionEndingRooms)
        live = rooms.parts[0]
        assert isinstance(live, LiveRoomsRuntime)
        return live

    @property
    def session(self) -> SessionRuntime:
        rooms = self.runtime.live
        assert isinstance(rooms, SessionEndingRooms)
        return rooms.parts[1]

    def code_url(self, dojo_id: str, caller: Caller) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/dojos/{dojo_id}/code?access_token={caller.token}"

    def session_url(self, dojo_id: str, caller: Caller) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/dojos/{dojo_id}/session?access_token={caller.token}"


class _QuietServer(uvicorn.Server):
    """uvicorn in the test's own loop: signals stay with pytest."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


@asynccontextmanager
async def served_realtime(
    settings: Settings, mint: TokenMint, *, changes: StandInChangeListener | None = None
) -> AsyncIterator[ServedInstance]:
    """The assembled app of `realtime.app.create_app` (no stand-in for the sockets) on a free port,
    in this loop, like one of the instances behind the edge; search indexing is `changes`'s."""
    app = create_app(settings, key_set=mint.key_set, dojo_changes=changes or StandInChangeListener())
    port = free_port()
    server = _QuietServer(
        uvicorn.Config(cast("Any", app), host="127.0.0.1", port=port, lifespan="on", log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    try:
        deadline = time.monotonic() + 30
        while not (server.started or serving.done()):
            if time.monotonic() > deadline:
                raise TimeoutError("the realtime instance did not start in time")
            await asyncio.sleep(0.02)
        if serving.done():
            await serving
            raise RuntimeError("uvicorn stopped before it started")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as http:
            yield ServedInstance(port=port, app=app, http=http)
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, timeout=30)


def dojo_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": f"Randori {uuid.uuid4().hex[:6]}", "language": "python"}
    body.update(overrides)
    return {name: value for name, value in body.items() if value is not None}


async def create_dojo(client: httpx.AsyncClient, caller: Caller, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/v1/dojos", json=dojo_body(**overrides), headers=caller.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def start_dojo(client: httpx.AsyncClient, caller: Caller, dojo_id: str) -> dict[str, Any]:
    response = await client.post(f"/v1/dojos/{dojo_id}/start", headers=caller.headers)
    assert response.status_code == 200, response.text
    started: dict[str, Any] = response.json()
    return started


async def join(
    client: httpx.AsyncClient, caller: Caller, dojo_id: str, role: str = "PARTICIPANT", **extra: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/dojos/{dojo_id}/join", json={"role": role, **extra}, headers=caller.headers
    )
