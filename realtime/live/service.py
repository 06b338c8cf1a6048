"""The live rooms of one realtime instance: what the app mounts, starts and asks.

`build_live_rooms` gives a `LiveRoomsRuntime`: its `route_handlers` go into the app, its
`lifespan` into the app's lifespans (it starts pycrdt-websocket's server, the Valkey relay, the
compaction of rooms and the watch that keeps open sockets authorised, and on shutdown closes the
sockets with 1001 so clients reconnect to another instance, then writes every room's state down),
and it is the `LiveRooms` the dojo records use (`code_of`, `close_room`, `recheck`).

An open socket is closed, with the codes it would have been refused with at open, when its
token expires or is revoked or its person is no longer admitted (`realtime.socket_watch`): at the
next sweep, or at once when the dojo records say who is in the dojo changed (`recheck`, on every
instance through the relay's control stream).
y-websocket does not reconnect on 4401 by itself: the application refreshes the token, puts it
in ``provider.params`` and calls ``provider.connect()`` (see the package's README).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID, uuid4

import anyio
import structlog
from litestar.handlers import WebsocketRouteHandler
from litestar.types import Scope
from pycrdt import Doc, Text
from valkey.asyncio import Valkey

from api.common.auth import (
    AccessDenylist,
    KeySetProvider,
    TokenClaims,
    bearer_token,
)
from api.common.errors import AuthenticationError, ServiceUnavailableError
from api.common.i18n import current_locale, normalize_locale
from api.common.settings import Settings
from realtime.live import errors
from realtime.live.channel import AsgiReceive, AsgiSend, RoomChannel
from realtime.live.errors import CloseReason
from realtime.live.limits import LiveLimits
from realtime.live.protocol import code_text
from realtime.live.relay import ValkeyRelay
from realtime.live.rooms import CodeRoomServer, RoomUnavailableError
from realtime.live.routes import live_route_handlers, socket_token
from realtime.ports import AccessRefused, Admission, RoomAccess
from realtime.socket_auth import SocketAuthenticator
from realtime.socket_watch import SocketWatch

logger = structlog.get_logger(__name__)

VALKEY_CONNECT_TIMEOUT_SECONDS = 2.0
VALKEY_COMMAND_TIMEOUT_SECONDS = 5.0
SHUTDOWN_DRAIN_SECONDS = 2.0


class LiveRoomsRuntime:
    """The live rooms of this instance; implements `realtime.ports.LiveRooms`."""

    def __init__(
        self,
        settings: Settings,
        *,
        access: RoomAccess,
        key_set: KeySetProvider,
        denylist: AccessDenylist,
        limits: LiveLimits,
        instance_id: str,
    ) -> None:
        self.settings = settings
        self.access = access
        self.key_set = key_set
        self.denylist = denylist
        self.limits = limits
        self.instance_id = instance_id
        self.server = CodeRoomServer(limits)
        self.route_handlers: list[WebsocketRouteHandler] = live_route_handlers(self)
        self._auth = SocketAuthenticator(settings, key_set, denylist)
        self.watch = SocketWatch(
            admit=self._admit,
            denylist=denylist,
            recheck_seconds=limits.recheck_seconds,
            token_leeway_seconds=limits.token_leeway_seconds,
        )
        self._relay: ValkeyRelay | None = None
        self._accepting = False

    @property
    def relay(self) -> ValkeyRelay:
        if self._relay is None:
            raise RuntimeError("the live rooms are not running: enter LiveRoomsRuntime.lifespan first")
        return self._relay

    # -- lifespan -------------------------------------------------------------------------------

    @asynccontextmanager
    async def lifespan(self, _app: object = None) -> AsyncIterator[None]:
        """Start the server, the relay and compaction; on exit, close sockets and save every room."""
        commands = _binary_valkey(self.settings, VALKEY_COMMAND_TIMEOUT_SECONDS)
        reader = _binary_valkey(
            self.settings, self.limits.relay_block_milliseconds / 1000 + VALKEY_COMMAND_TIMEOUT_SECONDS
        )
        relay = ValkeyRelay(
            commands,
            reader,
            self.limits,
            instance_id=self.instance_id,
            on_close=self._close_local_room,
            on_recheck=self.watch.recheck_soon,
        )
        try:
            async with self.server, anyio.create_task_group() as background:
                await background.start(relay.run)
                self._relay = relay
                self.server.relay = relay
                background.start_soon(self.server.run_compaction)
                background.start_soon(self.watch.run)
                self._accepting = True
                try:
                    yield
                finally:
                    self._accepting = False
                    with anyio.CancelScope(shield=True):
                        await self._drain()
                    background.cancel_scope.cancel()
        finally:
            self.server.relay = None
            self._relay = None
            await commands.aclose()
            await reader.aclose()

    async def _drain(self) -> None:
        for room in self.server.code_rooms:
            room.close_sockets(errors.going_away())
        with anyio.move_on_after(SHUTDOWN_DRAIN_SECONDS):
            await self.server.wait_until_empty()
        for room in self.server.code_rooms:
            await room.compact()
        if self._relay is not None and not await self._relay.flush(SHUTDOWN_DRAIN_SECONDS):
            logger.warning("live rooms stopped with updates not yet written to Valkey")

    # -- LiveRooms ------------------------------------------------------------------------------

    async def code_of(self, dojo_id: UUID) -> str | None:
        room = self.server.room_of(dojo_id)
        if room is not None:
            return room.code
        stored = await self.relay.load(dojo_id, seed=None)
        if not stored.exists:
            return None
        doc: Doc[Text] = Doc()
        with doc.transaction():
            for update in stored.updates():
                doc.apply_update(update)
        return code_text(doc)

    async def close_room(self, dojo_id: UUID, code: int, reason: str) -> None:
        self._close_local_room(dojo_id, code, reason)
        await self.relay.broadcast_close(dojo_id, code, reason)

    async def recheck(self, dojo_id: UUID) -> None:
        try:
            await self.relay.broadcast_recheck(dojo_id)  # the others check while this one does
        finally:
            await self.watch.check_dojo(dojo_id)

    def _close_local_room(self, dojo_id: UUID, code: int, reason: str) -> None:
        room = self.server.room_of(dojo_id)
        if room is not None:
            room.close_sockets(errors.room_closed(code, reason))

    # -- sockets --------------------------------------------------------------------------------

    async def serve_socket(self, scope: Scope, receive: AsgiReceive, send: AsgiSend, dojo_id: UUID) -> None:
        """Authenticate, admit and serve one socket of `dojo_id` until it closes."""
        event = await receive()
        if event["type"] != "websocket.connect":
            return
        locale = current_locale.get()
        admission: Admission | None = None
        claims: TokenClaims | None = None
        refusal: CloseReason | None = None
        try:
            claims = await self._auth.claims(_bearer(socket_token(scope)), locale)
            locale = normalize_locale(claims.locale) or locale
            admission = await self._admit(claims, dojo_id)
        except AccessRefused as error:
            refusal = errors.refusal(error)
        except ServiceUnavailableError:
            refusal = errors.unavailable()
        except Exception:
            logger.exception("live socket admission failed", dojo_id=str(dojo_id))
            refusal = errors.internal_error()
        if not self._accepting:
            refusal = errors.going_away()
        await send({"type": "websocket.accept"})
        if refusal is not None or admission is None or claims is None:
            reason = refusal or errors.internal_error()
            await send(
                {"type": "websocket.close", "code": reason.close_code, "reason": reason.render(locale)}
            )
            return
        structlog.contextvars.bind_contextvars(dojo_id=str(dojo_id), role=admission.role)
        channel = RoomChannel(
            receive=receive, send=send, admission=admission, locale=locale, limits=self.limits
        )
        await self._touch(admission)
        watched = self.watch.watch(
            claims,
            dojo_id,
            locale,
            close=lambda refused: channel.close(errors.refusal(refused)),
            readmitted=channel.readmitted,
        )
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(channel.run_writer)
                try:
                    await self.server.serve_channel(channel)
                except RoomUnavailableError as error:
                    logger.warning("live room unavailable", dojo_id=str(dojo_id), error=str(error))
                    channel.close(errors.unavailable())
                except Exception:
                    logger.exception("live socket failed", dojo_id=str(dojo_id))
                    channel.close(errors.internal_error())
                finally:
                    channel.close(errors.internal_error())  # no-op when a reason was given or the peer left
        finally:
            self.watch.forget(watched)
        await self._touch(admission)

    async def _admit(self, claims: TokenClaims, dojo_id: UUID) -> Admission:
        """The dojo records' admission, at open and again while the socket lives."""
        admission = await self.access.admit(claims, dojo_id)
        if admission.tenant_id != claims.tenant_id or admission.dojo_id != dojo_id:
            raise AccessRefused(errors.NOT_FOUND, "dojo-not-found", "")
        return admission

    async def _touch(self, admission: Admission) -> None:
        try:
            await self.access.touch(admission)
        except Exception as error:  # being seen as active is not worth refusing the socket for
            logger.warning("live socket could not record activity", error=repr(error))


def _bearer(authorization: str | None) -> str | None:
    """The token of an Authorization value or ``?access_token=`` (`socket_token`), None if absent."""
    if not authorization:
        return None
    try:
        return bearer_token(authorization)
    except AuthenticationError:
        return None


def _binary_valkey(settings: Settings, socket_timeout: float) -> Valkey:
    """Documents are bytes: a client of its own that does not decode replies."""
    client: Valkey = Valkey.from_url(
        settings.valkey_url,
        decode_responses=False,
        socket_connect_timeout=VALKEY_CONNECT_TIMEOUT_SECONDS,
        socket_timeout=socket_timeout,
        health_check_interval=30,
    )
    return client


def build_live_rooms(
    settings: Settings,
    *,
    access: RoomAccess,
    key_set: KeySetProvider,
    denylist: AccessDenylist,
    limits: LiveLimits | None = None,
    instance_id: str | None = None,
) -> LiveRoomsRuntime:
    """The live rooms of one realtime process; see `LiveRoomsRuntime` for the wiring.

    Without `limits`, the defaults of `LiveLimits` with the settings' document cap and recheck
    interval (`LiveLimits.from_settings`)."""
    errors.register_catalog()
    return LiveRoomsRuntime(
        settings,
        access=access,
        key_set=key_set,
        denylist=denylist,
        limits=limits or LiveLimits.from_settings(settings),
        instance_id=instance_id or uuid4().hex,
    )
