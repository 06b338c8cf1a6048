"""The session channel of one instance: its sockets, grouped by dojo, and what they ask for.

A socket's life: accepted, then authenticated (``access_token`` query parameter or the
``Authorization`` header; signature, expiry and the denylist) and admitted by the dojo records
(`RoomAccess.admit`); a refusal sends a ``refused`` frame and closes with the `AccessRefused`
code and a short JSON reason (``{"reason": "token-expired"}``). Admitted, it gets a ``welcome``
(who is here, the timer, the chat's last lines, the languages, the run in progress) and then
every event of its dojo.

Each socket has two tasks, owned and cancelled together: one reads and handles the client's
frames, one writes the socket's outbox. The channel's `SocketWatch` (`realtime.socket_watch`)
keeps every open socket authorised: it closes one whose token expires (unless the client sent a
fresh one with ``token.refresh``) or is revoked, or whose person the dojo records no longer admit,
with the same ``refused`` frame and close code as at open. When the facilitator changes a person's
role, the watch hears it at once (`SessionRuntime.recheck`) and the room's presence shows the new
role; a person made participant joins the randori's rotation. A client that cannot keep up fills its
outbox and is dropped (1013): the room never waits for it. A client that sends too much is
answered ``too-fast``, then closed (4429).

Room events (chat, presence, the timer, runs) are published to Valkey and delivered from there
(`Relay`), so sockets on every instance see the same events in the same order; the countdown
ticks are computed locally from the shared timer, so they need no fan-out at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
import structlog
from litestar import WebSocket

from api.common.auth import (
    AccessDenylist,
    KeySetProvider,
    TokenClaims,
    bearer_token,
)
from api.common.errors import AuthenticationError
from api.common.i18n import current_locale, format_number, normalize_locale
from api.common.settings import Settings
from api.common.tenancy import tenant_transaction
from realtime.ports import AccessRefused, Admission, LiveRooms, RoomAccess
from realtime.session import errors, repository
from realtime.session.chat import ChatRefused, ChatService
from realtime.session.config import SessionConfig
from realtime.session.execution import CodeExecutionService, RunRefused, StartedRun, outcome_of
from realtime.session.presence import Presence, PresenceEntry, members_of
from realtime.session.protocol import (
    AnyClientMessage,
    ChatPosted,
    ChatSend,
    DojoInfo,
    ErrorMessage,
    Limits,
    Ping,
    Pong,
    PresenceChanged,
    RandoriChanged,
    RandoriPause,
    RandoriReorder,
    RandoriResume,
    RandoriSkip,
    RandoriStart,
    RandoriStop,
    Refused,
    RunFinished,
    RunRequest,
    RunStarted,
    ServerMessage,
    SessionEnded,
    TokenRefresh,
    TokenRefreshed,
    Welcome,
    You,
    client_decoder,
    encode,
    kind_of,
)
from realtime.session.randori import RandoriError, RandoriSettings, RandoriState, RandoriStore, settings_of
from realtime.session.relay import Deliver, Recheck, Relay
from realtime.session.snapshots import SnapshotService
from realtime.socket_auth import SocketAuthenticator
from realtime.socket_watch import SocketWatch, WatchedSocket

logger = structlog.get_logger(__name__)


CLOSE_NOT_FOUND = 4404
CLOSE_NOT_RUNNING = 4409
CLOSE_TOO_LARGE = 4413
CLOSE_TOO_FAST = 4429
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_SERVICE_RESTART = 1012
CLOSE_INTERNAL_ERROR = 1011
MAX_CLOSE_REASON_BYTES = 123
FINAL_FRAME_TIMEOUT_SECONDS = 1.0
EARLY_FRAMES_LIMIT = 256
CANCEL_TIMEOUT_SECONDS = 5.0
FINISHED_STATUSES = frozenset({"COMPLETED", "CANCELLED"})


def close_reason(reason: str) -> str:
    """The close frame's reason: a short JSON object (WebSocket allows 123 bytes)."""
    text = json.dumps({"reason": reason}, separators=(",", ":"))
    return text if len(text.encode()) <= MAX_CLOSE_REASON_BYTES else '{"reason":"closed"}'


async def _cancel(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel and wait, but never forever: a client library may swallow a cancellation mid-command."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=CANCEL_TIMEOUT_SECONDS)


class TokenBucket:
    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self.tokens, self._at = burst, clock()

    def take(self) -> bool:
        now = self._clock()
        self.tokens = min(self.burst, self.tokens + (now - self._at) * self.rate)
        self._at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass(frozen=True, slots=True)
class CloseRequest:
    code: int
    reason: str
    message: str
    notify: bool = True
    """Send a ``refused`` frame before closing (not when the client already got ``session.ended``,
    nor to a client that could not keep up anyway)."""


class Connection:
    """One admitted socket."""

    def __init__(
        self,
        socket: WebSocket[Any, Any, Any],
        admission: Admission,
        claims: TokenClaims,
        locale: str,
        config: SessionConfig,
    ) -> None:
        self.connection_id = uuid.uuid4().hex
        self.socket = socket
        self.admission = admission
        self.claims = claims
        self.locale = locale
        self.outbox: asyncio.Queue[str | CloseRequest] = asyncio.Queue(maxsize=config.outbox_size)
        self.ready = False
        self.early: list[str] = []
        self.stopped = asyncio.Event()
        self.close_request: CloseRequest | None = None
        self.bucket = TokenBucket(config.messages_per_second, config.message_burst)
        self.flood_bucket = TokenBucket(config.messages_per_second * 3, config.message_burst * 3)
        self.last_touch = 0.0
        self.connected_at = time.time()
        self.watched: WatchedSocket | None = None

    @property
    def dojo_id(self) -> UUID:
        return self.admission.dojo_id

    def push(self, frame: str) -> None:
        """Queue a frame; a client whose outbox is full is dropped rather than waited for."""
        if self.stopped.is_set():
            return
        if not self.ready:
            if len(self.early) >= EARLY_FRAMES_LIMIT:
                self.stop(self._request(CLOSE_TRY_AGAIN_LATER, errors.SLOW_CONSUMER, notify=False))
                return
            self.early.append(frame)
            return
        try:
            self.outbox.put_nowait(frame)
        except asyncio.QueueFull:
            logger.info(
                "dropping a slow session client", dojo_id=str(self.dojo_id), user=str(self.claims.user_id)
            )
            self.stop(self._request(CLOSE_TRY_AGAIN_LATER, errors.SLOW_CONSUMER, notify=False))

    def _request(
        self, code: int, refusal: errors.Refusal, *, notify: bool = True, **params: Any
    ) -> CloseRequest:
        return CloseRequest(code, refusal.code, refusal.message(self.locale, **params), notify)

    def close_with(self, code: int, refusal: errors.Refusal, **params: Any) -> None:
        self.stop(self._request(code, refusal, **params))

    def refused(self, refusal: AccessRefused) -> None:
        """No longer authorised (`SocketWatch`): closed as it would have been refused at open."""
        self.stop(CloseRequest(refusal.code, refusal.reason, refusal.message))

    def readmitted(self, admission: Admission) -> None:
        """The dojo records admitted the person again: their role counts from now on (the status
        keeps its own path, `SessionChannel.notice_started_dojos`)."""
        self.admission = replace(
            self.admission,
            role=admission.role,
            facilitator=admission.facilitator,
            display_name=admission.display_name,
        )

    def finish(self, request: CloseRequest) -> None:
        """Close once the frames already queued are sent."""
        try:
            self.outbox.put_nowait(request)
        except asyncio.QueueFull:
            self.stop(request)

    def stop(self, request: CloseRequest) -> None:
        if self.close_request is None:
            self.close_request = request
        self.stopped.set()

    def error(
        self,
        refusal: errors.Refusal,
        *,
        retry_after: float | None = None,
        run_id: UUID | None = None,
        **params: Any,
    ) -> None:
        """An ``error`` frame to this socket only."""
        message = refusal.message(self.locale, **params)
        self.push(
            encode(ErrorMessage(code=refusal.code, message=message, retry_after=retry_after, run_id=run_id))
        )


@dataclass(eq=False)
class LocalRoom:
    dojo_id: UUID
    tenant_id: UUID
    randori_settings: RandoriSettings
    connections: dict[str, Connection] = field(default_factory=dict)


def _token_of(socket: WebSocket[Any, Any, Any]) -> str | None:
    token = socket.query_params.get("access_token")
    if token:
        return str(token)
    authorization = socket.headers.get("authorization")
    if not authorization:
        return None
    try:
        return bearer_token(authorization)
    except AuthenticationError:
        return None


class SessionChannel:
    """The sockets of this instance and everything they can ask for."""

    def __init__(
        self,
        *,
        settings: Settings,
        config: SessionConfig,
        instance_id: str,
        access: RoomAccess,
        live: LiveRooms,
        key_set: KeySetProvider,
        denylist: AccessDenylist | None,
        engine: Any,
        relay_factory: Callable[[Deliver, Recheck], Relay],
        presence: Presence,
        randori: RandoriStore,
        chat: ChatService,
        execution: CodeExecutionService,
        snapshots: SnapshotService,
    ) -> None:
        self.settings = settings
        self.config = config
        self.instance_id = instance_id
        self.access = access
        self.live = live
        self.key_set = key_set
        self.denylist = denylist
        self.engine = engine
        self.presence = presence
        self.randori = randori
        self.chat = chat
        self.execution = execution
        self.snapshots = snapshots
        self.rooms: dict[UUID, LocalRoom] = {}
        self._rooms_lock = asyncio.Lock()
        self._auth = SocketAuthenticator(settings, key_set, denylist)
        self.watch = SocketWatch(
            admit=self._readmit,
            denylist=denylist,
            recheck_seconds=settings.dojo_socket_recheck_seconds,
            token_leeway_seconds=config.token_leeway_seconds,
        )
        self.relay = relay_factory(self.deliver, self.watch.recheck_soon)
        self._background: set[asyncio.Task[Any]] = set()
        self.closing = False

    # -- background work owned by the channel -------------------------------------------------------

    def spawn(self, coroutine: Any, name: str) -> None:
        task: asyncio.Task[Any] = asyncio.create_task(coroutine, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def cancel_background(self) -> None:
        await _cancel(list(self._background))

    # -- admission --------------------------------------------------------------------------------

    async def authenticate(self, token: str | None, locale: str) -> TokenClaims:
        return await self._auth.claims(token, locale)

    async def admit(self, claims: TokenClaims, dojo_id: UUID, locale: str) -> Admission:
        admission = await self.access.admit(claims, dojo_id)
        if admission.dojo_id != dojo_id or admission.tenant_id != claims.tenant_id:
            raise AccessRefused(
                CLOSE_NOT_FOUND, errors.NO_SUCH_DOJO.code, errors.NO_SUCH_DOJO.message(locale)
            )
        if admission.status in FINISHED_STATUSES:
            raise AccessRefused(
                CLOSE_NOT_RUNNING, errors.DOJO_FINISHED.code, errors.DOJO_FINISHED.message(locale)
            )
        return admission

    async def _readmit(self, claims: TokenClaims, dojo_id: UUID) -> Admission:
        return await self.admit(claims, dojo_id, normalize_locale(claims.locale) or current_locale.get())

    async def serve(self, socket: WebSocket[Any, Any, Any], dojo_id: UUID) -> None:
        """The whole life of one socket (the route handler's body)."""
        await socket.accept()
        locale = current_locale.get()
        if self.closing:
            await self._refuse(
                socket,
                CLOSE_SERVICE_RESTART,
                errors.SERVER_RESTART.code,
                errors.SERVER_RESTART.message(locale),
            )
            return
        try:
            claims = await self.authenticate(_token_of(socket), locale)
            locale = normalize_locale(claims.locale) or locale
            admission = await self.admit(claims, dojo_id, locale)
        except AccessRefused as refusal:
            logger.info("session refused", dojo_id=str(dojo_id), code=refusal.code, reason=refusal.reason)
            await self._refuse(socket, refusal.code, refusal.reason, refusal.message)
            return
        except Exception:
            logger.exception("session admission failed", dojo_id=str(dojo_id))
            await self._refuse(
                socket, CLOSE_INTERNAL_ERROR, errors.INTERNAL.code, errors.INTERNAL.message(locale)
            )
            return
        locale = normalize_locale(admission.locale) or locale
        connection = Connection(socket, admission, claims, locale, self.config)
        try:
            await self._join(connection)
        except Exception:
            logger.exception("joining a session failed", dojo_id=str(dojo_id))
            await self._leave(connection)
            await self._refuse(
                socket, CLOSE_INTERNAL_ERROR, errors.INTERNAL.code, errors.INTERNAL.message(locale)
            )
            return
        connection.watched = self.watch.watch(
            claims,
            dojo_id,
            locale,
            connection.refused,
            readmitted=lambda fresh: self._readmitted(connection, fresh),
        )
        try:
            await self._run(connection)
        finally:
            self.watch.forget(connection.watched)
            await self._leave(connection)
            await self._close(connection)

    @staticmethod
    async def _refuse(socket: WebSocket[Any, Any, Any], code: int, reason: str, message: str) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                socket.send_text(encode(Refused(close_code=code, reason=reason, message=message))),
                FINAL_FRAME_TIMEOUT_SECONDS,
            )
        with contextlib.suppress(Exception):
            await socket.close(code=code, reason=close_reason(reason))

    # -- joining and leaving ------------------------------------------------------------------------

    async def _room_for(self, connection: Connection) -> LocalRoom:
        admission = connection.admission
        async with self._rooms_lock:
            room = self.rooms.get(admission.dojo_id)
            if room is None:
                room = LocalRoom(
                    admission.dojo_id, admission.tenant_id, await self._randori_settings(admission)
                )
                await self.relay.subscribe(admission.dojo_id)
                self.rooms[admission.dojo_id] = room
            room.connections[connection.connection_id] = connection
            return room

    async def _randori_settings(self, admission: Admission) -> RandoriSettings:
        async with tenant_transaction(self.engine, admission.tenant_id) as transaction:
            dojo = await repository.load_dojo(
                transaction.connection, admission.tenant_id, admission.dojo_id, admission.user_id
            )
        if dojo is None:
            return settings_of(
                self.config.randori_turn_minutes,
                self.config.randori_break_every,
                self.config.randori_break_minutes,
            )
        return settings_of(dojo.rotation_minutes, dojo.break_every, dojo.break_minutes)

    async def _join(self, connection: Connection) -> None:
        admission = connection.admission
        room = await self._room_for(connection)
        await self.presence.add(
            admission.dojo_id,
            PresenceEntry(
                connection_id=connection.connection_id,
                user_id=admission.user_id,
                display_name=admission.display_name,
                role=admission.role,
                facilitator=admission.facilitator,
                instance_id=self.instance_id,
                connected_at=connection.connected_at,
            ),
        )
        if admission.status == "ACTIVE":
            await self.snapshots.register(admission.tenant_id, admission.dojo_id)
        change = None
        if admission.role == "PARTICIPANT":
            user_id = admission.user_id
            change = await self.randori.mutate(
                admission.dojo_id,
                room.randori_settings,
                lambda state: "joined" if state.add(user_id) else None,
            )
        state = change.state if change else await self._randori_state(room)
        entries = await self.presence.entries(admission.dojo_id)
        history = await self.chat.history(admission.tenant_id, admission.dojo_id)
        now = self.randori.clock()
        present = {entry.user_id for entry in entries if entry.role == "PARTICIPANT"}
        welcome = Welcome(
            you=You(
                user_id=admission.user_id,
                display_name=admission.display_name,
                role=admission.role,
                facilitator=admission.facilitator,
                read_only=admission.read_only,
                connection_id=connection.connection_id,
            ),
            dojo=DojoInfo(dojo_id=admission.dojo_id, status=admission.status, language=admission.language),
            presence=members_of(entries, state.driver_id),
            randori=state.view(now, present),
            chat=history,
            languages=await self.execution.get_language_support(),
            run=await self.execution.current_run(admission.dojo_id),
            limits=Limits(
                chat_max_chars=self.config.chat_max_chars,
                chat_rate_count=self.config.chat_rate_count,
                chat_rate_window_seconds=self.config.chat_rate_window_seconds,
                max_frame_bytes=self.config.max_frame_bytes,
            ),
            server_time=datetime.now(UTC),
        )
        connection.outbox.put_nowait(encode(welcome))
        seen = {message.message_id for message in history}
        for frame in connection.early:
            if (
                kind_of(frame) == "chat.message"
                and msgspec.json.decode(frame, type=ChatPosted).message.message_id in seen
            ):
                continue
            connection.outbox.put_nowait(frame)
        connection.early.clear()
        connection.ready = True
        await self.publish(
            admission.dojo_id,
            PresenceChanged(members=welcome.presence, driver_id=state.driver_id, joined=admission.user_id),
        )
        if change is not None:
            await self.publish(
                admission.dojo_id, RandoriChanged(randori=state.view(now, present), reason=change.reason)
            )
        self.spawn(self._touch(connection), "session-touch")

    def _readmitted(self, connection: Connection, admission: Admission) -> None:
        """The watch admitted the person again; a new role (or name) is shown to the room."""
        before = connection.admission
        connection.readmitted(admission)
        after = connection.admission
        if (before.role, before.facilitator, before.display_name) != (
            after.role,
            after.facilitator,
            after.display_name,
        ):
            self.spawn(
                self._member_changed(connection, role_changed=before.role != after.role), "session-member"
            )

    async def _member_changed(self, connection: Connection, *, role_changed: bool) -> None:
        """The socket's presence entry with the person's role now, told to the room (every instance)."""
        admission = connection.admission
        if connection.stopped.is_set():
            return
        try:
            await self.presence.add(
                admission.dojo_id,
                PresenceEntry(
                    connection_id=connection.connection_id,
                    user_id=admission.user_id,
                    display_name=admission.display_name,
                    role=admission.role,
                    facilitator=admission.facilitator,
                    instance_id=self.instance_id,
                    connected_at=connection.connected_at,
                ),
            )
            room = self.rooms.get(admission.dojo_id)
            if role_changed and admission.role == "PARTICIPANT" and room is not None:
                user_id = admission.user_id
                change = await self.randori.mutate(
                    admission.dojo_id,
                    room.randori_settings,
                    lambda state: "joined" if state.add(user_id) else None,
                )
                if change is not None:
                    present = await self.presence.participant_ids(admission.dojo_id)
                    view = change.state.view(self.randori.clock(), present)
                    await self.publish(admission.dojo_id, RandoriChanged(randori=view, reason=change.reason))
            await self.publish_presence(admission.dojo_id)
        except Exception as exc:
            logger.warning("presence update failed after a role changed", error=repr(exc))

    async def _randori_state(self, room: LocalRoom) -> RandoriState:
        return await self.randori.load(room.dojo_id) or RandoriState.fresh(room.randori_settings)

    async def _leave(self, connection: Connection) -> None:
        dojo_id = connection.dojo_id
        async with self._rooms_lock:
            room = self.rooms.get(dojo_id)
            if room is not None and room.connections.pop(connection.connection_id, None) is not None:
                if not room.connections:
                    del self.rooms[dojo_id]
                    with contextlib.suppress(Exception):
                        await self.relay.unsubscribe(dojo_id)
        try:
            await self.presence.remove(dojo_id, connection.connection_id)
            await self.publish_presence(dojo_id, left=connection.admission.user_id)
        except Exception as exc:
            logger.warning(
                "presence update failed after a socket left", dojo_id=str(dojo_id), error=repr(exc)
            )

    async def publish_presence(self, dojo_id: UUID, *, left: UUID | None = None) -> None:
        entries = await self.presence.entries(dojo_id)
        state = await self.randori.load(dojo_id)
        driver_id = None if state is None else state.driver_id
        if left is not None and any(entry.user_id == left for entry in entries):
            left = None  # still here through another socket
        await self.publish(
            dojo_id, PresenceChanged(members=members_of(entries, driver_id), driver_id=driver_id, left=left)
        )

    async def _touch(self, connection: Connection) -> None:
        connection.last_touch = time.monotonic()
        try:
            await self.access.touch(connection.admission)
        except Exception as exc:
            logger.warning("recording a participant's activity failed", error=repr(exc))

    # -- the socket's tasks -------------------------------------------------------------------------

    async def _run(self, connection: Connection) -> None:
        tasks = [
            asyncio.create_task(self._read(connection), name="session-read"),
            asyncio.create_task(self._write(connection), name="session-write"),
            asyncio.create_task(connection.stopped.wait(), name="session-stopped"),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await _cancel(tasks)

    async def _close(self, connection: Connection) -> None:
        request = connection.close_request
        if request is None:
            return
        if request.notify:
            with contextlib.suppress(Exception):
                frame = Refused(close_code=request.code, reason=request.reason, message=request.message)
                await asyncio.wait_for(
                    connection.socket.send_text(encode(frame)), FINAL_FRAME_TIMEOUT_SECONDS
                )
        with contextlib.suppress(Exception):
            await connection.socket.close(code=request.code, reason=close_reason(request.reason))

    async def _write(self, connection: Connection) -> None:
        while True:
            item = await connection.outbox.get()
            if isinstance(item, CloseRequest):
                connection.stop(item)
                return
            try:
                await asyncio.wait_for(connection.socket.send_text(item), self.config.send_timeout_seconds)
            except TimeoutError:
                connection.close_with(CLOSE_TRY_AGAIN_LATER, errors.SLOW_CONSUMER)
                return

    async def _read(self, connection: Connection) -> None:
        limit = self.config.max_frame_bytes
        while True:
            message = await connection.socket.receive()
            if message["type"] != "websocket.receive":
                return
            text: str | None = message.get("text")
            data: bytes | None = message.get("bytes")
            size = len(text.encode()) if text is not None else len(data or b"")
            if size > limit:
                connection.close_with(CLOSE_TOO_LARGE, errors.FRAME_TOO_LARGE, limit=limit)
                return
            if not connection.flood_bucket.take():
                connection.close_with(CLOSE_TOO_FAST, errors.FLOODING)
                return
            if not connection.bucket.take():
                connection.error(errors.TOO_FAST)
                continue
            if text is None:
                connection.error(errors.INVALID_MESSAGE)
                continue
            try:
                command = client_decoder.decode(text)
            except (msgspec.DecodeError, msgspec.ValidationError):
                connection.error(errors.INVALID_MESSAGE)
                continue
            try:
                await self.handle(connection, command)
            except Exception:
                logger.exception(
                    "a session message failed", dojo_id=str(connection.dojo_id), type=type(command).__name__
                )
                connection.error(errors.INTERNAL)
            if time.monotonic() - connection.last_touch >= self.config.touch_interval_seconds:
                self.spawn(self._touch(connection), "session-touch")

    # -- what clients ask for -----------------------------------------------------------------------

    async def handle(self, connection: Connection, command: AnyClientMessage) -> None:
        if isinstance(command, ChatSend):
            await self._chat(connection, command)
        elif isinstance(command, RunRequest):
            await self._run_code(connection, command)
        elif isinstance(command, TokenRefresh):
            await self._refresh_token(connection, command)
        elif isinstance(command, Ping):
            connection.push(encode(Pong(server_time=datetime.now(UTC))))
        else:
            await self._randori_command(connection, command)

    async def _chat(self, connection: Connection, command: ChatSend) -> None:
        try:
            message = await self.chat.post(connection.admission, command.text)
        except ChatRefused as refusal:
            connection.error(
                errors.BY_CODE[refusal.code],
                retry_after=refusal.retry_after,
                limit=refusal.limit,
                window=format_number(self.config.chat_rate_window_seconds, connection.locale),
                seconds=format_number(refusal.retry_after or 0, connection.locale),
            )
            return
        await self.publish(connection.dojo_id, ChatPosted(message=message))

    async def _active_admission(self, connection: Connection) -> Admission | None:
        """The connection's admission, asked again when it was not ACTIVE (the dojo may have started
        since the socket opened)."""
        if connection.admission.status != "ACTIVE":
            with contextlib.suppress(AccessRefused):
                connection.admission = await self.access.admit(connection.claims, connection.dojo_id)
            if connection.admission.status == "ACTIVE":
                await self.snapshots.register(connection.admission.tenant_id, connection.dojo_id)
        return connection.admission if connection.admission.status == "ACTIVE" else None

    async def current_code(self, admission: Admission) -> str:
        """The live room's text; without a room, the last snapshot's, else the initial code."""
        code = await self.live.code_of(admission.dojo_id)
        if code is not None:
            return code
        async with tenant_transaction(self.engine, admission.tenant_id) as transaction:
            latest = await repository.latest_snapshot(
                transaction.connection, admission.tenant_id, admission.dojo_id
            )
        return latest.code if latest is not None else admission.initial_code

    async def _run_code(self, connection: Connection, command: RunRequest) -> None:
        if connection.admission.role != "PARTICIPANT":
            connection.error(errors.OBSERVER_CANNOT_RUN)
            return
        admission = await self._active_admission(connection)
        if admission is None:
            connection.error(errors.DOJO_NOT_ACTIVE)
            return
        run_id = command.run_id or uuid.uuid4()
        try:
            started = await self.execution.start(
                admission,
                run_id=run_id,
                language=command.language or admission.language,
                source=await self.current_code(admission),
                stdin=command.stdin,
            )
        except RunRefused as refusal:
            name = refusal.run.display_name if refusal.run is not None else "?"
            run = refusal.run.run_id if refusal.run is not None else None
            connection.error(errors.BY_CODE[refusal.code], name=name, run_id=run)
            return
        await self.publish(admission.dojo_id, RunStarted(run=started.info))
        self.spawn(self._deliver_result(started), f"session-run-{run_id}")

    async def _deliver_result(self, started: StartedRun) -> None:
        result = await self.execution.result(started)
        outcome = outcome_of(result, started.info.run_id, started.info.user_id)
        await self.publish(UUID(started.request.dojo_id), RunFinished(result=outcome))

    async def _refresh_token(self, connection: Connection, command: TokenRefresh) -> None:
        try:
            claims = await self.authenticate(command.access_token, connection.locale)
        except AccessRefused as refusal:
            connection.push(encode(ErrorMessage(code=refusal.reason, message=refusal.message)))
            return
        if claims.user_id != connection.claims.user_id or claims.tenant_id != connection.claims.tenant_id:
            connection.error(errors.TOKEN_MISMATCH)
            return
        connection.claims = claims
        if connection.watched is not None:
            self.watch.renew(connection.watched, claims)
        connection.push(encode(TokenRefreshed(expires_at=claims.expires_at)))

    async def _randori_command(self, connection: Connection, command: AnyClientMessage) -> None:
        if not connection.admission.facilitator:
            connection.error(errors.FACILITATOR_ONLY)
            return
        admission = await self._active_admission(connection)
        if admission is None:
            connection.error(errors.DOJO_NOT_ACTIVE)
            return
        room = self.rooms.get(admission.dojo_id)
        if room is None:
            return
        present = await self.presence.participant_ids(admission.dojo_id)
        if isinstance(command, RandoriStart):
            # The dojo's rhythm may have been changed since the room opened here.
            room.randori_settings = await self._randori_settings(admission)
        rhythm = room.randori_settings
        now = self.randori.clock()

        def apply(state: RandoriState) -> str | None:
            if isinstance(command, RandoriStart):
                state.turn_seconds, state.break_every = rhythm.turn_seconds, rhythm.break_every
                state.break_seconds = rhythm.break_seconds
                for user_id in sorted(present, key=str):
                    state.add(user_id)
                state.start(now, command.order, present)
                return "started"
            if isinstance(command, RandoriPause):
                state.pause(now)
                return "paused"
            if isinstance(command, RandoriResume):
                state.resume(now)
                return "resumed"
            if isinstance(command, RandoriSkip):
                state.end_phase(now, present)
                return "skipped"
            if isinstance(command, RandoriReorder):
                state.reorder(command.order, present)
                return "reordered"
            if isinstance(command, RandoriStop):
                state.stop()
                return "stopped"
            return None

        try:
            change = await self.randori.mutate(admission.dojo_id, room.randori_settings, apply)
        except RandoriError as refusal:
            connection.error(errors.BY_CODE[refusal.code])
            return
        if change is not None:
            await self.publish(
                admission.dojo_id,
                RandoriChanged(
                    randori=change.state.view(now, present), reason=change.reason, by=admission.user_id
                ),
            )

    # -- fan-out ------------------------------------------------------------------------------------

    async def publish(self, dojo_id: UUID, message: ServerMessage) -> None:
        await self.relay.publish(dojo_id, encode(message))

    async def deliver(self, dojo_id: UUID, frame: str) -> None:
        """What Valkey relayed for a dojo, to this instance's sockets of it."""
        room = self.rooms.get(dojo_id)
        if room is None:
            return
        ended = msgspec.json.decode(frame, type=SessionEnded) if kind_of(frame) == "session.ended" else None
        for connection in list(room.connections.values()):
            connection.push(frame)
            if ended is not None:
                connection.finish(
                    CloseRequest(
                        ended.close_code,
                        ended.reason,
                        errors.DOJO_ENDED.message(connection.locale),
                        notify=False,
                    )
                )

    async def notice_started_dojos(self) -> None:
        """Rooms whose sockets opened before the dojo started learn that it runs now (one admission
        asked again per such room), so snapshots begin without anyone clicking anything."""
        for room in list(self.rooms.values()):
            waiting = [
                connection
                for connection in room.connections.values()
                if connection.admission.status != "ACTIVE"
            ]
            if not waiting:
                continue
            try:
                fresh = await self.access.admit(waiting[0].claims, room.dojo_id)
            except AccessRefused:
                continue
            if fresh.status != "ACTIVE":
                continue
            for connection in waiting:
                connection.admission = replace(connection.admission, status=fresh.status)
            await self.snapshots.register(room.tenant_id, room.dojo_id)

    def push_local(self, dojo_id: UUID, frame: str) -> None:
        room = self.rooms.get(dojo_id)
        if room is not None:
            for connection in list(room.connections.values()):
                connection.push(frame)

    def close_all(self, code: int, refusal: errors.Refusal) -> None:
        for room in list(self.rooms.values()):
            for connection in list(room.connections.values()):
                connection.close_with(code, refusal)
