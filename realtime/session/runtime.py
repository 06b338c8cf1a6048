"""The session channel assembled: its services, its background loops and its lifespan.

`build_session_channel` is what the realtime app factory calls. It returns a `SessionRuntime`
whose ``route_handlers`` go into the app and whose ``lifespan`` goes into the app's lifespans;
the runtime is then found by the handlers in ``app.state`` (`STATE_KEY`), so two apps in one
process (two instances in a test) never share anything but Valkey, PostgreSQL and Temporal.

The loops every instance runs, each owned by the lifespan and cancelled with it:

- the relay's listener (room events from Valkey to this instance's sockets);
- the timer: turns and breaks that ended are advanced by whichever instance takes the dojo's
  lease, so a rotation happens even when nobody sends anything, and happens once;
- the ticks: every few seconds, each socket gets the countdown again, from the shared state;
- presence: this instance's sockets are kept alive in Valkey, and a crashed instance's pruned;
- snapshots: each running dojo's code, every interval, by whichever instance takes the lease;
- the socket watch: open sockets whose token expired or was revoked, or whose person left the
  dojo, are closed (`realtime.socket_watch`); at once, on every instance, when the dojo records
  say who is in the dojo changed (`recheck`).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import structlog
from litestar import Litestar
from litestar.types import ControllerRouterHandler
from temporalio.client import Client

from api.common.auth import AccessDenylist, KeySetProvider
from api.common.i18n import register_catalog_dir
from api.common.settings import Settings
from api.common.storage import BlobStorage
from realtime.ports import LiveRooms, RoomAccess
from realtime.session import errors
from realtime.session.channel import CLOSE_SERVICE_RESTART, SessionChannel
from realtime.session.chat import ChatService
from realtime.session.config import SessionConfig
from realtime.session.execution import CodeExecutionService, LanguageSource
from realtime.session.history import SessionHistory
from realtime.session.presence import Presence
from realtime.session.protocol import RandoriChanged, SessionEnded, encode
from realtime.session.randori import Clock, RandoriState, RandoriStore
from realtime.session.relay import Relay
from realtime.session.snapshots import SnapshotService

logger = structlog.get_logger(__name__)

LOCALE_DIR = Path(__file__).parent / "locale"
STATE_KEY = "dojo_session"
"""Where the app's state keeps its `SessionRuntime`."""
SHUTDOWN_GRACE_SECONDS = 2.0
STOP_TIMEOUT_SECONDS = 5.0


class SessionRuntime:
    def __init__(self, channel: SessionChannel, config: SessionConfig) -> None:
        self.channel = channel
        self.config = config
        self.history = SessionHistory(channel.engine)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    @property
    def instance_id(self) -> str:
        return self.channel.instance_id

    @property
    def execution(self) -> CodeExecutionService:
        """The seed's CodeExecutionService (``executeCode``, ``getLanguageSupport``)."""
        return self.channel.execution

    @property
    def route_handlers(self) -> Sequence[ControllerRouterHandler]:
        """The WebSocket and the REST routes; they find this runtime in ``app.state``."""
        from realtime.session.routes import ROUTE_HANDLERS

        return ROUTE_HANDLERS

    # -- lifespan -----------------------------------------------------------------------------------

    @asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        """Starts the loops and publishes the runtime in ``app.state``; closes every socket at exit."""
        app.state[STATE_KEY] = self
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        self.channel.closing = False
        await self.channel.relay.start()
        await self.channel.execution.load_languages()
        # Temporal being down must not delay the service: the first "Run" connects otherwise.
        self.channel.spawn(self.channel.execution.warm_up(), "dojo-session-temporal")
        loops: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = [
            ("relay", self.channel.relay.listen),
            ("timer", self._every(self.config.timer_poll_seconds, self.advance_timers)),
            ("ticks", self._every(self.config.tick_seconds, self.send_ticks)),
            ("presence", self._every(self.config.presence_refresh_seconds, self.refresh_presence)),
            ("snapshots", self._every(self.config.snapshot_poll_seconds, self.take_snapshots)),
            ("access", self.channel.watch.run),
        ]
        self._tasks = [asyncio.create_task(loop(), name=f"dojo-session-{name}") for name, loop in loops]

    async def stop(self) -> None:
        channel = self.channel
        channel.closing = True
        channel.close_all(CLOSE_SERVICE_RESTART, errors.SERVER_RESTART)
        for _ in range(int(SHUTDOWN_GRACE_SECONDS / 0.05)):
            if not channel.rooms:
                break
            await asyncio.sleep(0.05)
        self._stopping.set()
        channel.relay.closing = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # A client library may swallow a cancellation mid-command; the loops also watch
            # `_stopping`, and nothing waits for them forever.
            await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT_SECONDS)
        self._tasks = []
        await channel.cancel_background()
        await channel.relay.close()

    def _every(
        self, seconds: float, step: Callable[[], Awaitable[None]]
    ) -> Callable[[], Coroutine[Any, Any, None]]:
        async def loop() -> None:
            while not self._stopping.is_set():
                try:
                    await step()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("a dojo session loop step failed", step=getattr(step, "__name__", "?"))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), seconds)

        return loop

    # -- the loops' steps ---------------------------------------------------------------------------

    async def advance_timers(self) -> None:
        """End every turn or break whose deadline passed, once, whichever instance gets there first."""
        channel, store = self.channel, self.channel.randori
        now = store.clock()
        for dojo_id in await store.due(now):
            if not await store.take_lease(dojo_id, channel.instance_id, self.config.timer_lease_seconds):
                continue
            try:
                await self._advance(dojo_id, now)
            finally:
                await store.release_lease(dojo_id, channel.instance_id)

    async def _advance(self, dojo_id: UUID, now: float) -> None:
        channel, store = self.channel, self.channel.randori
        current = await store.load(dojo_id)
        if current is None or current.status != "RUNNING":
            await store.forget_due(dojo_id)
            return
        present = await channel.presence.participant_ids(dojo_id)

        def expire(state: RandoriState) -> str | None:
            if state.status != "RUNNING" or state.deadline is None or state.deadline > now:
                return None
            return state.end_phase(now, present)

        change = await store.mutate(dojo_id, current.settings, expire)
        if change is not None:
            view = change.state.view(now, present)
            await channel.publish(dojo_id, RandoriChanged(randori=view, reason=change.reason))

    async def send_ticks(self) -> None:
        """The countdown to this instance's sockets, from the state every instance shares."""
        channel = self.channel
        now = channel.randori.clock()
        for dojo_id in list(channel.rooms):
            state = await channel.randori.load(dojo_id)
            if state is not None and state.status != "IDLE":
                channel.push_local(dojo_id, encode(state.tick(now)))

    async def refresh_presence(self) -> None:
        channel = self.channel
        rooms = [(dojo_id, list(room.connections)) for dojo_id, room in list(channel.rooms.items())]
        await channel.presence.refresh(rooms)
        for dojo_id, _ in rooms:
            if await channel.presence.prune(dojo_id):
                await channel.publish_presence(dojo_id)
        await channel.notice_started_dojos()

    async def take_snapshots(self) -> None:
        channel = self.channel
        for dojo in await channel.snapshots.active():
            try:
                await channel.snapshots.snapshot_due(dojo, channel.instance_id)
            except Exception:
                logger.exception("a dojo snapshot failed", dojo_id=str(dojo.dojo_id))

    # -- the dojo ends ------------------------------------------------------------------------------

    async def close_room(self, dojo_id: UUID, code: int, reason: str) -> None:
        """The dojo ended or was cancelled: a final snapshot, the timer stopped, and every socket
        of the dojo on every instance told (``session.ended``) and closed with `code`.

        Call it before the live rooms close (`LiveRooms.close_room`), so the final snapshot still
        reads the live code.
        """
        channel = self.channel
        tenant_id = await channel.snapshots.tenant_of(dojo_id)
        if tenant_id is not None:  # it ran (a dojo cancelled before it started has no history)
            try:
                await channel.snapshots.take(tenant_id, dojo_id, "FINAL")
            except Exception:
                logger.exception("the final snapshot failed", dojo_id=str(dojo_id))
        await channel.snapshots.unregister(dojo_id)
        await channel.randori.forget(dojo_id)
        await channel.publish(dojo_id, SessionEnded(close_code=code, reason=reason))

    async def recheck(self, dojo_id: UUID) -> None:
        """Who is in the dojo changed: every instance checks its sockets of it now (this one before
        returning, the others when the instances' channel tells them)."""
        try:
            await self.channel.relay.publish_recheck(dojo_id)
        finally:
            await self.channel.watch.check_dojo(dojo_id)


class SessionEndingRooms:
    """The `LiveRooms` the dojo records should be given: ending a dojo ends its session first (the
    final snapshot still reads the live code, the timer stops, every session socket hears
    ``session.ended``), then closes the live rooms; a change of who is in the dojo is checked
    by the sockets of both."""

    def __init__(self, live: LiveRooms, session: SessionRuntime) -> None:
        self._live = live
        self._session = session

    @property
    def parts(self) -> tuple[LiveRooms, SessionRuntime]:
        """The live rooms and the session channel it combines (for metrics and tests)."""
        return self._live, self._session

    async def code_of(self, dojo_id: UUID) -> str | None:
        return await self._live.code_of(dojo_id)

    async def close_room(self, dojo_id: UUID, code: int, reason: str) -> None:
        try:
            await self._session.close_room(dojo_id, code, reason)
        finally:
            await self._live.close_room(dojo_id, code, reason)

    async def recheck(self, dojo_id: UUID) -> None:
        """Both socket parts, even when one of them fails."""
        try:
            await self._session.recheck(dojo_id)
        finally:
            await self._live.recheck(dojo_id)


def build_session_channel(
    settings: Settings,
    *,
    access: RoomAccess,
    live: LiveRooms,
    key_set: KeySetProvider,
    denylist: AccessDenylist | None,
    valkey: Any,
    temporal_client: Client | None,
    storage: BlobStorage,
    engine: Any,
    config: SessionConfig | None = None,
    clock: Clock | None = None,
    languages: LanguageSource | None = None,
) -> SessionRuntime:
    """The session channel of one realtime instance.

    `engine` is the dojo database's Piccolo engine (application role), whose pool the app starts
    and closes; `valkey` the app's client (``decode_responses=True``), shared with the denylist;
    `temporal_client` may be None (connected on the first "Run", so Temporal being down never
    stops the service); `clock` moves the randori's time (tests); `languages` replaces the host's
    language detection.
    """
    register_catalog_dir(LOCALE_DIR)
    config = config or SessionConfig()
    instance_id = uuid.uuid4().hex
    store = RandoriStore(valkey) if clock is None else RandoriStore(valkey, clock)
    execution = (
        CodeExecutionService(settings, config, valkey, temporal_client)
        if languages is None
        else CodeExecutionService(settings, config, valkey, temporal_client, languages=languages)
    )
    channel = SessionChannel(
        settings=settings,
        config=config,
        instance_id=instance_id,
        access=access,
        live=live,
        key_set=key_set,
        denylist=denylist,
        engine=engine,
        relay_factory=lambda deliver, recheck: Relay(
            valkey, deliver, instance_id=instance_id, on_recheck=recheck
        ),
        presence=Presence(valkey, config.presence_ttl_seconds),
        randori=store,
        chat=ChatService(config, valkey, engine),
        execution=execution,
        snapshots=SnapshotService(valkey, engine, storage, live, config.snapshot_interval_seconds),
    )
    return SessionRuntime(channel, config)
