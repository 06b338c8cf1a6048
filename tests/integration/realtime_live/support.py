"""Live rooms served for real: uvicorn on a free port, the kernel's app factory, Valkey of the session.

The dojo records are not part of these tests: `StandInRoomAccess` answers `RoomAccess` from
dojos the test declares (tenant, members and their roles, status, initial code). Tokens are
real Ed25519 access tokens signed by a key the app trusts (`TokenMint`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import uvicorn
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws
from joserfc.jwk import OKPKey
from pycrdt import Doc, Provider, Text
from pycrdt.websocket.websocket import HttpxWebsocket
from valkey.asyncio import Valkey

from api.common.app import create_service_app
from api.common.auth import StaticKeySet, TokenClaims, ValkeyDenylist
from api.common.settings import Settings
from api.common.valkey import create_valkey
from infra.stack import free_port
from realtime.live import CODE_TEXT, LiveLimits, LiveRoomsRuntime, build_live_rooms
from realtime.live.protocol import (
    AwarenessEntry,
    MessageKind,
    decode_awareness,
    encode_awareness,
    message_kind,
)
from realtime.ports import AccessRefused, Admission, DojoStatus, Role
from tests.unit.common.token_factory import new_signing_key, sign_access_token

MAX_FRAME = 16 * 1024 * 1024
"""What the test clients accept in one frame (httpx-ws's default of 64 KiB is below a big document's sync)."""


@dataclass(frozen=True)
class Caller:
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

    def caller(self, tenant_id: uuid.UUID, *, name: str = "Ada", **claims: Any) -> Caller:
        user_id = claims.pop("user_id", None) or uuid.uuid4()
        jti = uuid.uuid4().hex
        claims.setdefault("locale", "en")
        token = sign_access_token(
            self.key, self.settings, sub=str(user_id), tid=str(tenant_id), jti=jti, **claims
        )
        return Caller(user_id=user_id, tenant_id=tenant_id, name=name, token=token, jti=jti)


@dataclass
class StandInDojo:
    dojo_id: uuid.UUID
    tenant_id: uuid.UUID
    initial_code: str = "print('hello, dojo')\n"
    status: DojoStatus = "ACTIVE"
    members: dict[uuid.UUID, Role] = field(default_factory=dict)
    facilitator: uuid.UUID | None = None


class StandInRoomAccess:
    """`RoomAccess` from dojos declared by the test, standing in for the dojo records."""

    def __init__(self) -> None:
        self.dojos: dict[uuid.UUID, StandInDojo] = {}
        self.touched: list[uuid.UUID] = []

    def dojo(self, tenant_id: uuid.UUID, *, initial_code: str = "print('hello, dojo')\n") -> StandInDojo:
        dojo = StandInDojo(uuid.uuid4(), tenant_id, initial_code=initial_code)
        self.dojos[dojo.dojo_id] = dojo
        return dojo

    async def admit(self, claims: TokenClaims, dojo_id: uuid.UUID) -> Admission:
        dojo = self.dojos.get(dojo_id)
        if dojo is None or dojo.tenant_id != claims.tenant_id:
            raise AccessRefused(4404, "dojo-not-found", "No such dojo.")
        role = dojo.members.get(claims.user_id)
        if role is None:
            raise AccessRefused(4403, "not-a-participant", "You do not take part in this dojo.")
        if dojo.status in ("COMPLETED", "CANCELLED"):
            raise AccessRefused(4409, "dojo-not-running", "This dojo is over.")
        return Admission(
            tenant_id=dojo.tenant_id,
            dojo_id=dojo.dojo_id,
            user_id=claims.user_id,
            display_name=f"user {str(claims.user_id)[:4]}",
            role=role,
            facilitator=dojo.facilitator == claims.user_id,
            status=dojo.status,
            language="python",
            initial_code=dojo.initial_code,
            locale=claims.locale,
        )

    async def touch(self, admission: Admission) -> None:
        self.touched.append(admission.user_id)


@dataclass
class Instance:
    """One realtime process's live rooms, served by uvicorn on `port`."""

    port: int
    runtime: LiveRoomsRuntime
    denylist: ValkeyDenylist

    @property
    def base_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/dojos"

    def url(self, dojo_id: uuid.UUID, token: str | None = None) -> str:
        query = f"?access_token={token}" if token is not None else ""
        return f"{self.base_url}/{dojo_id}/code{query}"


class _QuietServer(uvicorn.Server):
    """uvicorn in the test's own loop: signals stay with pytest."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def connect_socket(
    url: str, http: httpx.AsyncClient, **options: Any
) -> contextlib.AbstractAsyncContextManager[AsyncWebSocketSession]:
    """httpx-ws's `aconnect_ws`, typed."""
    connection: contextlib.AbstractAsyncContextManager[AsyncWebSocketSession] = aconnect_ws(
        url, http, **options
    )
    return connection


@asynccontextmanager
async def running_instance(
    settings: Settings,
    mint: TokenMint,
    access: StandInRoomAccess,
    *,
    limits: LiveLimits | None = None,
    ws_max_size: int = 16 * 1024 * 1024,
    live_settings: Settings | None = None,
) -> AsyncIterator[Instance]:
    """A realtime app with the live rooms (and the kernel's middleware), on uvicorn, in this loop.

    `live_settings` apply to the live rooms only (the denylist keeps the session's Valkey).
    """
    valkey: Valkey = create_valkey(settings)
    denylist = ValkeyDenylist(valkey)
    runtime = build_live_rooms(
        live_settings or settings, access=access, key_set=mint.key_set, denylist=denylist, limits=limits
    )
    app = create_service_app(
        service="realtime",
        settings=settings,
        route_handlers=runtime.route_handlers,
        key_set=mint.key_set,
        denylist=denylist,
        lifespan=[runtime.lifespan],
    )
    port = free_port()
    config = uvicorn.Config(
        cast("Any", app),
        host="127.0.0.1",
        port=port,
        lifespan="on",
        log_level="warning",
        ws_max_size=ws_max_size,
    )
    server = _QuietServer(config)
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
        await asyncio.sleep(0.02)


@dataclass
class PythonClient:
    """A pycrdt document synced through `pycrdt.Provider` over httpx-ws."""

    doc: Doc[Text]
    socket: AsyncWebSocketSession
    provider: Provider

    @property
    def text(self) -> Text:
        return self.doc.get(CODE_TEXT, type=Text)

    @property
    def code(self) -> str:
        return str(self.text)

    def append(self, text: str) -> None:
        self.text.insert(len(self.text), text)


@asynccontextmanager
async def python_client(url: str, doc: Doc[Text] | None = None) -> AsyncIterator[PythonClient]:
    document: Doc[Text] = doc if doc is not None else Doc()
    async with (
        httpx.AsyncClient() as http,
        connect_socket(url, http, max_message_size_bytes=MAX_FRAME) as websocket,
    ):
        channel = HttpxWebsocket(websocket, url)
        async with Provider(document, channel) as provider:
            await asyncio.wait_for(provider.synced.wait(), timeout=10)
            yield PythonClient(document, websocket, provider)


async def refused(url: str) -> tuple[int, str]:
    """The close code and reason of a socket the server closes at once."""
    async with httpx.AsyncClient() as http, connect_socket(url, http) as websocket:
        try:
            while True:
                await asyncio.wait_for(websocket.receive(), timeout=10)
        except WebSocketDisconnect as closed:
            return closed.code, closed.reason
    raise AssertionError("the socket was not closed")


class NodeClient:
    """The Node client (node/client.mjs: yjs + y-websocket + ws) driven over JSON lines."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, folder: Path, server_url: str, token: str) -> NodeClient:
        process = await asyncio.create_subprocess_exec(
            "node",
            str(folder / "client.mjs"),
            server_url,
            token,
            cwd=folder,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.events.append(json.loads(line))
            self._arrived.set()

    async def wait_event(
        self, matches: Callable[[dict[str, Any]], bool], *, within: float = 10.0
    ) -> dict[str, Any]:
        """The first event (seen so far or coming) that `matches`."""
        deadline = time.monotonic() + within
        seen = 0
        while True:
            for event in self.events[seen:]:
                if matches(event):
                    return event
            seen = len(self.events)
            self._arrived.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching event; last events: {self.events[-5:]}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout=remaining)

    @property
    def code(self) -> str | None:
        texts = [event["text"] for event in self.events if event["event"] in ("synced", "text")]
        return texts[-1] if texts else None

    async def command(self, **command: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()

    async def insert(self, index: int, text: str) -> None:
        await self.command(insert=[index, text])

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ConnectionError):
                await self.command(quit=True)
            try:
                await asyncio.wait_for(self.process.wait(), timeout=5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@asynccontextmanager
async def node_client(folder: Path, server_url: str, token: str) -> AsyncIterator[NodeClient]:
    client = await NodeClient.start(folder, server_url, token)
    try:
        yield client
    finally:
        await client.stop()


class RawClient:
    """A socket speaking the wire format by hand: for presence, limits and misbehaving clients."""

    def __init__(self, socket: AsyncWebSocketSession) -> None:
        self.socket = socket
        self.messages: list[bytes] = []
        self.closed: tuple[int, str] | None = None
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                self.messages.append(await self.socket.receive_bytes())
        except WebSocketDisconnect as closed:
            self.closed = (closed.code, closed.reason)

    async def send(self, message: bytes) -> None:
        await self.socket.send_bytes(message)

    def awareness(self) -> list[AwarenessEntry]:
        """Every presence entry received so far, in order."""
        return [
            entry
            for message in self.messages
            if message_kind(message) is MessageKind.AWARENESS
            for entry in decode_awareness(message)
        ]

    async def wait_closed(self, *, within: float = 10.0) -> tuple[int, str]:
        await wait_for(lambda: self.closed is not None, within=within)
        assert self.closed is not None
        return self.closed

    async def stop(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@asynccontextmanager
async def raw_client(url: str) -> AsyncIterator[RawClient]:
    async with (
        httpx.AsyncClient() as http,
        connect_socket(
            url, http, keepalive_ping_interval_seconds=None, max_message_size_bytes=MAX_FRAME
        ) as socket,
    ):
        client = RawClient(socket)
        try:
            yield client
        finally:
            await client.stop()


def awareness_message(client_id: int, clock: int, state: dict[str, Any] | None) -> bytes:
    return encode_awareness([AwarenessEntry(client_id, clock, state)])


def close_reason(reason: str) -> dict[str, str]:
    """The JSON reason of a close, checked against the close frame's limit."""
    assert len(reason.encode()) <= 123
    parsed = json.loads(reason)
    assert set(parsed) == {"code", "message"}
    assert parsed["message"]
    return cast("dict[str, str]", parsed)
