"""The session channel served for real: uvicorn on free ports, the kernel's app factory, the
session's PostgreSQL (the dojo database, as its application role), Valkey and Temporal.

Dojos are rows of the dojo database, inserted by the test as the application role in the
tenant's transaction (`create_dojo`). Two stand-ins, named so, take the place of the other
halves of the realtime service: `StandInRoomAccess` answers `RoomAccess` from those rows the
way the dojo records do, and `StandInLiveRooms` holds each dojo's code as the live Yjs rooms
would. Tokens are real Ed25519 access tokens signed with a key the apps trust.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import string
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import httpx
import uvicorn
from joserfc.jwk import OKPKey
from temporalio.client import Client
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from api.common.app import create_service_app
from api.common.auth import StaticKeySet, TokenClaims, ValkeyDenylist
from api.common.settings import Settings
from api.common.storage import BlobStorage
from api.common.tenancy import tenant_transaction
from api.common.valkey import create_valkey
from infra.stack import free_port
from realtime.dojos.deps import DEPENDENCIES
from realtime.ports import AccessRefused, Admission
from realtime.session import SessionConfig, SessionRuntime, build_session_channel
from tests.unit.common.token_factory import new_signing_key, sign_access_token


class ShiftedClock:
    """The randori's clock for tests: real time plus an offset that only ever grows, shared by every
    instance of the test session so they all agree on what time it is."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass(frozen=True)
class Person:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    token: str
    jti: str


class TokenMint:
    """Signs access tokens the way identity does, with a key the test apps trust."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.key: OKPKey = new_signing_key()
        self.key_set = StaticKeySet([self.key])

    def person(self, tenant_id: uuid.UUID, name: str, *, locale: str = "en", **claims: Any) -> Person:
        user_id = claims.pop("user_id", None) or uuid.uuid4()
        jti = uuid.uuid4().hex
        token = sign_access_token(
            self.key, self.settings, sub=str(user_id), tid=str(tenant_id), jti=jti, locale=locale, **claims
        )
        return Person(user_id=user_id, tenant_id=tenant_id, name=name, token=token, jti=jti)

    def token_for(self, person: Person, **claims: Any) -> str:
        return sign_access_token(
            self.key, self.settings, sub=str(person.user_id), tid=str(person.tenant_id), locale="en", **claims
        )


@dataclass
class Dojo:
    dojo_id: uuid.UUID
    tenant_id: uuid.UUID
    facilitator: Person
    participants: list[Person]
    """The facilitator first."""
    observers: list[Person]
    initial_code: str


def _join_code() -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(12))


async def create_dojo(
    engine: Any,
    mint: TokenMint,
    *,
    tenant_id: uuid.UUID | None = None,
    participants: int = 2,
    observers: int = 1,
    status: str = "ACTIVE",
    rotation_minutes: int = 5,
    break_every: int = 4,
    break_minutes: int = 5,
    initial_code: str = "print('hello, dojo')\n",
    language: str = "python",
) -> Dojo:
    """A dojo and its people, as rows of the dojo database; the first participant created it."""
    tenant = tenant_id or uuid.uuid4()
    people = [mint.person(tenant, f"Participant {index + 1}") for index in range(participants)]
    watchers = [mint.person(tenant, f"Observer {index + 1}") for index in range(observers)]
    dojo_id = uuid.uuid4()
    now = datetime.now(UTC)
    started = now if status in ("ACTIVE", "COMPLETED") else None
    ended = now if status in ("COMPLETED", "CANCELLED") else None
    async with tenant_transaction(engine, tenant) as transaction:
        connection = transaction.connection
        await connection.execute(
            """
            INSERT INTO dojos (dojo_id, creator_id, tenant_id, name, language, initial_code, join_code,
                               status, started_at, ended_at, rotation_minutes, break_every, break_minutes)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            """,
            dojo_id,
            people[0].user_id,
            tenant,
            "Kata das strings",
            language,
            initial_code,
            _join_code(),
            status,
            started,
            ended,
            rotation_minutes,
            break_every,
            break_minutes,
        )
        for index, (person, role) in enumerate(
            [(person, "PARTICIPANT") for person in people] + [(person, "OBSERVER") for person in watchers]
        ):
            await connection.execute(
                """
                INSERT INTO dojo_participants (tenant_id, dojo_id, user_id, role, display_name, join_time)
                VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
                """,
                tenant,
                dojo_id,
                person.user_id,
                role,
                person.name,
                float(index),
            )
    return Dojo(dojo_id, tenant, people[0], people, watchers, initial_code)


async def set_status(engine: Any, dojo: Dojo, status: str) -> None:
    async with tenant_transaction(engine, dojo.tenant_id) as transaction:
        await transaction.connection.execute(
            """
            UPDATE dojos SET status = $3::varchar,
                started_at = COALESCE(started_at, now()),
                ended_at = CASE WHEN $3::varchar IN ('COMPLETED', 'CANCELLED') THEN now() ELSE NULL END
            WHERE tenant_id = $1 AND dojo_id = $2
            """,
            dojo.tenant_id,
            dojo.dojo_id,
            status,
        )


class StandInRoomAccess:
    """Stands in for the dojo records' `RoomAccess`: the same answers, from the same rows."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.touched: list[uuid.UUID] = []

    async def admit(self, claims: TokenClaims, dojo_id: uuid.UUID) -> Admission:
        async with tenant_transaction(self.engine, claims.tenant_id) as transaction:
            row = await transaction.connection.fetchrow(
                """
                SELECT d.status, d.language, d.initial_code, d.creator_id, p.role, p.display_name
                FROM dojos d
                LEFT JOIN dojo_participants p
                  ON p.dojo_id = d.dojo_id AND p.user_id = $2 AND p.leave_time IS NULL
                WHERE d.dojo_id = $1
                """,
                dojo_id,
                claims.user_id,
            )
        if row is None:
            raise AccessRefused(4404, "dojo-not-found", "No such dojo.")
        if row["role"] is None:
            raise AccessRefused(4403, "not-a-participant", "You do not take part in this dojo.")
        return Admission(
            tenant_id=claims.tenant_id,
            dojo_id=dojo_id,
            user_id=claims.user_id,
            display_name=row["display_name"],
            role=row["role"],
            facilitator=row["creator_id"] == claims.user_id,
            status=row["status"],
            language=row["language"],
            initial_code=row["initial_code"] or "",
            locale=claims.locale,
        )

    async def touch(self, admission: Admission) -> None:
        self.touched.append(admission.user_id)


class StandInLiveRooms:
    """Stands in for the live Yjs rooms: each dojo's code as the test sets it."""

    def __init__(self) -> None:
        self.code: dict[uuid.UUID, str] = {}
        self.closed: list[tuple[uuid.UUID, int, str]] = []
        self.rechecked: list[uuid.UUID] = []

    async def code_of(self, dojo_id: uuid.UUID) -> str | None:
        return self.code.get(dojo_id)

    async def close_room(self, dojo_id: uuid.UUID, code: int, reason: str) -> None:
        self.closed.append((dojo_id, code, reason))
        self.code.pop(dojo_id, None)

    async def recheck(self, dojo_id: uuid.UUID) -> None:
        self.rechecked.append(dojo_id)


@dataclass
class Instance:
    """One realtime process's session channel, served by uvicorn on `port`."""

    port: int
    runtime: SessionRuntime
    denylist: ValkeyDenylist

    def url(self, dojo_id: uuid.UUID, token: str | None = None) -> str:
        query = f"?access_token={token}" if token is not None else ""
        return f"ws://127.0.0.1:{self.port}/v1/dojos/{dojo_id}/session{query}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Parts:
    """What every instance of a test shares (PostgreSQL, Temporal, storage) or mimics (the live rooms)."""

    settings: Settings
    mint: TokenMint
    engine: Any
    access: StandInRoomAccess
    live: StandInLiveRooms
    storage: BlobStorage
    temporal: Client | None
    config: SessionConfig
    clock: ShiftedClock


@asynccontextmanager
async def running_instance(parts: Parts, **changes: Any) -> AsyncIterator[Instance]:
    """A realtime app with the session channel (and the kernel's middleware), on uvicorn, in this
    loop, with a Valkey client of its own like a separate process. `changes` replace `parts` fields."""
    settings: Settings = changes.get("settings", parts.settings)
    valkey = create_valkey(settings)
    denylist = ValkeyDenylist(valkey)
    runtime = build_session_channel(
        settings,
        access=changes.get("access", parts.access),
        live=changes.get("live", parts.live),
        key_set=parts.mint.key_set,
        denylist=denylist,
        valkey=valkey,
        temporal_client=changes.get("temporal", parts.temporal),
        storage=parts.storage,
        engine=parts.engine,
        config=changes.get("config", parts.config),
        clock=parts.clock,
    )
    app = create_service_app(
        service="realtime",
        settings=settings,
        route_handlers=runtime.route_handlers,
        key_set=parts.mint.key_set,
        denylist=denylist,
        lifespan=[runtime.lifespan],
        dependencies={name: DEPENDENCIES[name] for name in ("claims", "paging")},
    )
    port = free_port()
    config = uvicorn.Config(cast("Any", app), host="127.0.0.1", port=port, lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    # Several servers share the test process: none of them may take over its signal handlers.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    serving = asyncio.create_task(server.serve())
    try:
        await wait_for(lambda: server.started or serving.done(), within=20)
        if serving.done():
            await serving
            raise RuntimeError("uvicorn stopped before it started")
        yield Instance(port=port, runtime=runtime, denylist=denylist)
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, timeout=20)
        await valkey.aclose()


async def wait_for(condition: Callable[[], bool], *, within: float = 10.0, interval: float = 0.01) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval)


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)


Frame = dict[str, Any]


def chat_text_is(text: str) -> Callable[[Frame], bool]:
    return lambda frame: bool(frame["message"]["message"] == text)


@dataclass
class SessionClient:
    """A client of the session channel: JSON frames in and out, and what it has seen so far."""

    socket: ClientConnection
    welcome: Frame
    seen: list[Frame] = field(default_factory=list)

    async def send(self, type_: str, **fields: Any) -> None:
        await self.socket.send(json.dumps({"type": type_, **fields}, default=str))

    async def next(self, within: float = 10.0) -> Frame:
        frame: Frame = json.loads(await asyncio.wait_for(self.socket.recv(), within))
        self.seen.append(frame)
        return frame

    async def expect(
        self, type_: str, where: Callable[[Frame], bool] | None = None, *, within: float = 10.0
    ) -> Frame:
        """The next frame of `type_` (matching `where`), skipping others."""
        deadline = time.monotonic() + within
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {type_} frame in time; seen {[frame['type'] for frame in self.seen]}")
            frame = await self.next(left)
            if frame["type"] == type_ and (where is None or where(frame)):
                return frame

    async def closed(self, within: float = 10.0) -> tuple[int, dict[str, Any], list[Frame]]:
        """Read until the server closes: the close code, its JSON reason and the frames before it."""
        frames: list[Frame] = []
        try:
            while True:
                frames.append(await self.next(within))
        except ConnectionClosed as closed:
            if closed.rcvd is None:
                raise AssertionError("the server closed without a close frame") from closed
            return closed.rcvd.code, json.loads(closed.rcvd.reason), frames


@asynccontextmanager
async def session(
    instance: Instance, dojo: Dojo | uuid.UUID, person: Person, *, token: str | None = None
) -> AsyncIterator[SessionClient]:
    """An admitted client of `dojo` as `person`, its welcome already read."""
    dojo_id = dojo.dojo_id if isinstance(dojo, Dojo) else dojo
    async with connect(instance.url(dojo_id, token or person.token), open_timeout=10) as socket:
        welcome: Frame = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert welcome["type"] == "welcome", welcome
        yield SessionClient(socket, welcome)


async def refused(
    instance: Instance,
    dojo_id: uuid.UUID,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], list[Frame]]:
    """Open a socket that the server should refuse: its close code, JSON reason and frames."""
    async with connect(instance.url(dojo_id, token), additional_headers=headers, open_timeout=10) as socket:
        client = SessionClient(socket, welcome={})
        return await client.closed()


async def get_json(instance: Instance, path: str, person: Person) -> httpx.Response:
    async with httpx.AsyncClient(base_url=instance.http_url, timeout=10) as client:
        return await client.get(path, headers={"Authorization": f"Bearer {person.token}"})
