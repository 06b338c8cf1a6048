"""pycrdt-websocket's server and rooms, taught where a dojo's document comes from and goes to.

pycrdt-websocket's `WebsocketServer` holds the rooms and runs their tasks; each room is a
`YRoom` with its document, its awareness and pycrdt's sync protocol (`handle_sync_message`).
What is added or changed:

- a room is opened explicitly, before its first client is served: its document is loaded
  from Valkey (or, the very first time, written from the dojo's initial code), and only then
  does any client sync with it, whichever client comes first (with pycrdt-websocket 0.16.5 a
  web client opening a room that was not started yet was seen never to finish its sync);
- the serving loop sends through `RoomChannel.send_nowait` instead of spawning a task per
  client and message, and a change is broadcast by the document observer, to every client but
  the one it came from: under load, task spawning was most of the server's CPU (measured in
  bench/realtime);
- every change a client makes here is published to the room's log for the other instances and
  for later; their changes arrive through the relay and reach the clients here;
- presence is filtered as y-websocket's own server does it (only news is relayed, so clients
  echoing each other's states cost nothing), one client cannot overwrite another person's
  presence, every state carries the sender's identity (`MEMBER_FIELD`), a joining client is
  told at once who is there, and a client's presence is removed, here and on the other
  instances, as soon as its socket closes;
- a client's change that would grow the document past `LiveLimits.max_document_bytes` is not
  applied (so neither broadcast nor stored) and its sender is closed (4413
  ``document-too-large``); the room and its other clients go on;
- the room is retired when its last client leaves, its whole state written down first.
"""

from __future__ import annotations

import logging
import time
from typing import cast
from uuid import UUID, uuid4

import anyio
import structlog
from pycrdt import (
    Channel,
    Doc,
    Subscription,
    Text,
    TransactionEvent,
    YMessageType,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    handle_sync_message,
    read_message,
)
from pycrdt.websocket import WebsocketServer, YRoom, exception_logger

from realtime.live import errors
from realtime.live.channel import RoomChannel, room_path
from realtime.live.errors import CloseReason
from realtime.live.limits import LiveLimits
from realtime.live.protocol import (
    MEMBER_FIELD,
    AwarenessEntry,
    MalformedMessageError,
    awareness_clocks,
    code_text,
    decode_awareness,
    decode_awareness_update,
    encode_awareness,
    encode_awareness_update,
    message_kind,
    seed_update,
)
from realtime.live.relay import ValkeyRelay

logger = structlog.get_logger(__name__)
_pycrdt_log = logging.getLogger("realtime.live.pycrdt")

MAX_CLIENT_IDS_PER_SOCKET = 8
"""Awareness client ids one socket may speak for (a Yjs client uses one per document)."""
UPDATE_GROWTH_SLACK = 16
"""Bytes added per applied update to the estimate of the state's size: merging an update may split
an item of the state, which costs a few bytes more than the update itself."""


class RoomUnavailableError(Exception):
    """The room's document could not be loaded (Valkey unreachable): the client should retry."""


class CodeRoom(YRoom):
    """One dojo's shared code on this instance; see the module docstring."""

    def __init__(self, dojo_id: UUID, relay: ValkeyRelay, limits: LiveLimits) -> None:
        # Not "ready": pycrdt's room then never starts its own broadcast of document changes
        # (a task per client and update); `_changed` sends them instead (see `serve`).
        super().__init__(ready=False, exception_handler=exception_logger, log=_pycrdt_log)
        self.dojo_id = dojo_id
        self.incarnation = uuid4().hex.encode()
        self.log_position = b"0-0"
        self.presence_position = b"0-0"
        self.holders = 0
        """Sockets being served or about to be: the room is retired when none is left."""
        self.opened = anyio.Event()
        self.open_error: BaseException | None = None
        self.updates_since_compaction = 0
        self.dirty_since: float | None = None
        self._relay = relay
        self._limits = limits
        self._applying_remote = False
        self._compacting = False
        self._publishing: Subscription | None = None
        self._channels: set[RoomChannel] = set()
        self._origin: RoomChannel | None = None
        self._origin_message: bytes | None = None
        self._measured_bytes = 0
        """The encoded state's size when last measured; `_grown_bytes` bounds what came since."""
        self._grown_bytes = 0
        self.refused_growth = 0

    @property
    def doc(self) -> Doc[Text]:
        return cast("Doc[Text]", self.ydoc)

    @property
    def code(self) -> str:
        return code_text(self.doc)

    @property
    def channels(self) -> list[RoomChannel]:
        return list(self._channels)

    # -- loading --------------------------------------------------------------------------------

    async def load(self, initial_code: str) -> None:
        """The document as Valkey holds it, or the initial code for a dojo never opened before."""
        stored = await self._relay.load(self.dojo_id, seed_update(self.dojo_id, initial_code))
        with self.doc.transaction(origin="load"):
            for update in stored.updates():
                self.doc.apply_update(update)
        self.log_position = stored.log_position
        self.presence_position = stored.presence_position
        self._measure(self.doc.get_update())
        self._publishing = self.doc.observe(self._changed)
        self._relay.register(self)
        self._relay.query_presence(self)

    def full_update(self) -> bytes:
        return self.doc.get_update()

    # -- document changes -----------------------------------------------------------------------

    def _changed(self, event: TransactionEvent) -> None:
        message = create_update_message(event.update)
        # The sender has what it sent; but an update that also let pending changes of others in
        # (the change differs from what was sent) goes back to the sender too.
        skipped = self._origin if message == self._origin_message else None
        for channel in self._channels:
            if channel is not skipped:
                channel.send_nowait(message)
        self.updates_since_compaction += 1
        self._grown_bytes += len(event.update) + UPDATE_GROWTH_SLACK
        if self.dirty_since is None:
            self.dirty_since = time.monotonic()
        if not self._applying_remote:
            self._relay.publish_update(self, event.update)

    def apply_remote_update(self, update: bytes) -> None:
        """Another instance's change: applied (so clients here get it), never published again."""
        self._applying_remote = True
        try:
            self.doc.apply_update(update)
        except Exception as error:  # one bad entry must not stop the relay for every room
            logger.warning(
                "live room could not apply a relayed update", dojo_id=str(self.dojo_id), error=repr(error)
            )
        finally:
            self._applying_remote = False

    @property
    def needs_compaction(self) -> bool:
        if self.updates_since_compaction >= self._limits.compact_every_updates:
            return True
        return (
            self.dirty_since is not None
            and time.monotonic() - self.dirty_since >= self._limits.compact_every_seconds
        )

    async def compact(self) -> None:
        """Write the whole document as the room's state and trim the log behind it."""
        if self._compacting or self.updates_since_compaction == 0:
            return
        self._compacting = True
        counted = self.updates_since_compaction
        state, upto = self.doc.get_update(), self.log_position
        self._measure(state)
        try:
            await self._relay.compact(self.dojo_id, state, upto)
        except Exception as error:  # the log still holds every update; the next attempt catches up
            logger.warning("live room compaction failed", dojo_id=str(self.dojo_id), error=repr(error))
            return
        finally:
            self._compacting = False
        self.updates_since_compaction -= counted
        self.dirty_since = time.monotonic() if self.updates_since_compaction else None

    async def serve(self, channel: Channel) -> None:
        """pycrdt-websocket's protocol loop for one client, without a task per message and client.

        The same steps as `YRoom.serve` (sync step 1 to the client, sync messages applied with
        `handle_sync_message`, presence relayed to everyone and applied to the room's
        awareness), but sending is `RoomChannel.send_nowait`, which only queues: spawning a
        task for every client of every message was most of the server's CPU under load. A
        change is broadcast by `_changed` to every client but the one it came from.
        """
        if not isinstance(channel, RoomChannel):
            raise TypeError("a CodeRoom serves RoomChannel only")
        self.clients.add(channel)
        self._channels.add(channel)
        try:
            channel.send_nowait(create_sync_message(self.doc))
            async for message in channel:
                try:
                    self._handle(channel, message)
                except Exception as error:
                    logger.info("live room refused a message", dojo_id=str(self.dojo_id), error=repr(error))
                    channel.close(errors.invalid_message())
        finally:
            self._channels.discard(channel)
            self.clients.discard(channel)

    def _handle(self, channel: RoomChannel, message: bytes) -> None:
        if message[0] == YMessageType.SYNC:
            if message_kind(message).changes_document and not self._within_cap(message):
                self.refused_growth += 1
                logger.info(
                    "live room refused a change past the document cap",
                    dojo_id=str(self.dojo_id),
                    limit=self._limits.max_document_bytes,
                )
                channel.close(errors.document_too_large(self._limits.max_document_bytes))
                return
            self._origin, self._origin_message = channel, message
            try:
                reply = handle_sync_message(message[1:], self.doc)
            finally:
                self._origin, self._origin_message = None, None
            if reply is not None:
                channel.send_nowait(reply)
        elif message[0] == YMessageType.AWARENESS:
            for client in self._channels:  # the sender too: y-websocket counts on its own echo
                client.send_nowait(message)
            self.awareness.apply_awareness_update(read_message(message[1:]), "client")

    # -- the document's size cap ----------------------------------------------------------------

    def _measure(self, state: bytes) -> None:
        self._measured_bytes, self._grown_bytes = len(state), 0

    @property
    def state_bytes(self) -> int:
        """The document's encoded state size, measured now."""
        state = self.doc.get_update()
        self._measure(state)
        return len(state)

    def _within_cap(self, message: bytes) -> bool:
        """Whether applying a client's SYNC step 2 or update keeps the document within its cap.

        Cheap while far from the cap (the last measure, plus what was applied since, plus this
        update, is an upper bound); near it, the state is measured, and only when that is not
        enough is the change tried on a copy of the document. A change that does not grow the
        state (a deletion) always goes through, even above a cap lowered since the room opened.
        """
        update = read_message(message[2:])
        cap = self._limits.max_document_bytes
        if self._measured_bytes + self._grown_bytes + len(update) <= cap:
            return True
        state = self.doc.get_update()
        self._measure(state)
        if len(state) + len(update) <= cap:
            return True
        trial: Doc[Text] = Doc()
        trial.apply_update(state)
        trial.apply_update(update)
        after = len(trial.get_update())
        return after <= cap or after <= len(state)

    # -- presence -------------------------------------------------------------------------------

    def _is_news(self, entry: AwarenessEntry) -> bool:
        return self._clock_is_news(entry.client_id, entry.clock, entry.state is None)

    def _clock_is_news(self, client_id: int, clock: int, left: bool) -> bool:
        """What `Awareness.apply_awareness_update` would apply: a newer clock, or a removal."""
        meta = self.awareness.meta.get(client_id)
        current = meta["clock"] if meta is not None else 0
        if current < clock:
            return True
        return current == clock and left and client_id in self.awareness.states

    def awareness_is_news(self, message: bytes) -> bool:
        """Whether a presence message changes anything here (most are clients' echoes)."""
        return any(self._clock_is_news(*entry) for entry in awareness_clocks(message))

    def _speaks_for_someone_else(self, channel: RoomChannel, client_id: int) -> bool:
        state = self.awareness.states.get(client_id)
        member = state.get(MEMBER_FIELD) if isinstance(state, dict) else None
        return isinstance(member, dict) and member.get("userId") != channel.member["userId"]

    def accept_awareness(self, channel: RoomChannel, message: bytes) -> bytes | None:
        """The part of a client's presence message the room should relay, stamped; None if nothing."""
        accepted: list[AwarenessEntry] = []
        for entry in decode_awareness(message):
            if not self._is_news(entry) or self._speaks_for_someone_else(channel, entry.client_id):
                continue
            if entry.state is None:
                channel.client_ids.discard(entry.client_id)
                accepted.append(entry)
                continue
            if entry.client_id not in channel.client_ids:
                if len(channel.client_ids) >= MAX_CLIENT_IDS_PER_SOCKET:
                    continue
                for other in self.channels:
                    other.client_ids.discard(entry.client_id)
                channel.client_ids.add(entry.client_id)
            state = {**entry.state, MEMBER_FIELD: channel.member}
            accepted.append(AwarenessEntry(entry.client_id, entry.clock, state))
        if not accepted:
            return None
        update = encode_awareness_update(accepted)
        self._relay.publish_presence(self, update)
        return encode_awareness(accepted)

    def greet(self, channel: RoomChannel) -> None:
        """Tell a joining client who is already here (pycrdt's room waits for their next change)."""
        present = [client_id for client_id in self.awareness.states if client_id != self.awareness.client_id]
        if present:
            channel.send_nowait(create_awareness_message(self.awareness.encode_awareness_update(present)))

    def apply_remote_presence(self, update: bytes) -> None:
        try:
            entries = decode_awareness_update(update)
        except MalformedMessageError:
            return
        news = [entry for entry in entries if self._is_news(entry)]
        if not news:
            return
        self.awareness.apply_awareness_update(encode_awareness_update(news), "relay")
        self._send_to_all(encode_awareness(news))

    def answer_presence_query(self) -> None:
        present = [client_id for client_id in self.awareness.states if client_id != self.awareness.client_id]
        if present:
            self._relay.publish_presence(self, self.awareness.encode_awareness_update(present))

    def forget(self, channel: RoomChannel) -> None:
        """Remove the presence of a socket that closed, for everyone here and elsewhere."""
        gone = [client_id for client_id in channel.client_ids if client_id in self.awareness.states]
        channel.client_ids.clear()
        if not gone:
            return
        entries = [
            AwarenessEntry(client_id, self.awareness.meta[client_id]["clock"], None) for client_id in gone
        ]
        self.awareness.remove_awareness_states(gone, "disconnect")
        self._send_to_all(encode_awareness(entries))
        self._relay.publish_presence(self, encode_awareness_update(entries))

    def _send_to_all(self, message: bytes) -> None:
        for channel in self._channels:
            channel.send_nowait(message)

    def close_sockets(self, reason: CloseReason) -> None:
        for channel in self.channels:
            channel.close(reason)

    async def retire(self) -> None:
        """The last client left: stop listening, write the state down, stop the room's tasks."""
        self._relay.unregister(self)
        if self._publishing is not None:
            self.doc.unobserve(self._publishing)
            self._publishing = None
        await self.compact()
        if self._task_group is not None:
            await self.stop()


class CodeRoomServer(WebsocketServer):
    """pycrdt-websocket's server, holding `CodeRoom` s opened from Valkey."""

    def __init__(self, limits: LiveLimits) -> None:
        super().__init__(
            rooms_ready=True, auto_clean_rooms=False, exception_handler=exception_logger, log=_pycrdt_log
        )
        self.limits = limits
        self.relay: ValkeyRelay | None = None
        self._room_retired = anyio.Event()

    def room_of(self, dojo_id: UUID) -> CodeRoom | None:
        room = self.rooms.get(room_path(dojo_id))
        if isinstance(room, CodeRoom) and room.opened.is_set() and room.open_error is None:
            return room
        return None

    @property
    def code_rooms(self) -> list[CodeRoom]:
        return [room for room in self.rooms.values() if isinstance(room, CodeRoom)]

    async def open_room(self, dojo_id: UUID, initial_code: str) -> CodeRoom:
        """The dojo's room, loaded and started; the caller holds it until `release`."""
        if self.relay is None:
            raise RoomUnavailableError("the live rooms are not running")
        name = room_path(dojo_id)
        existing = self.rooms.get(name)
        if isinstance(existing, CodeRoom):
            existing.holders += 1
            await existing.opened.wait()
            if existing.open_error is not None:
                existing.holders -= 1
                raise RoomUnavailableError(str(existing.open_error))
            return existing
        room = CodeRoom(dojo_id, self.relay, self.limits)
        room.holders += 1
        self.rooms[name] = room
        try:
            await room.load(initial_code)
            await self.start_room(room)
            room.awareness.set_local_state(None)  # the server is nobody: it shows in no one's presence
        except BaseException as error:
            room.open_error = error
            room.holders -= 1
            if self.rooms.get(name) is room:
                del self.rooms[name]
            self.relay.unregister(room)
            if isinstance(error, Exception):
                raise RoomUnavailableError(repr(error)) from error
            raise
        finally:
            room.opened.set()
        return room

    async def release(self, room: CodeRoom) -> None:
        room.holders -= 1
        if room.holders > 0:
            return
        name = room_path(room.dojo_id)
        if self.rooms.get(name) is room:
            del self.rooms[name]
        await room.retire()
        self._room_retired.set()
        self._room_retired = anyio.Event()

    async def wait_until_empty(self) -> None:
        """Until every room was retired (their clients all left)."""
        while self.code_rooms:
            await self._room_retired.wait()

    async def serve_channel(self, channel: RoomChannel) -> None:
        """Serve one client until its socket ends; the room is opened first if need be."""
        room = await self.open_room(channel.admission.dojo_id, channel.admission.initial_code)
        try:
            channel.gate = room
            room.greet(channel)
            await room.serve(channel)
        finally:
            room.forget(channel)
            with anyio.CancelScope(shield=True):
                await self.release(room)

    async def run_compaction(self) -> None:
        """Write down the state of rooms with enough unsaved updates, or unsaved for long enough."""
        interval = max(0.05, min(1.0, self.limits.compact_every_seconds / 4))
        while True:
            await anyio.sleep(interval)
            for room in self.code_rooms:
                if room.opened.is_set() and room.needs_compaction:
                    await room.compact()

    async def serve(self, websocket: Channel) -> None:
        """Only `RoomChannel` s are served: a room must know its dojo before anyone syncs with it."""
        if not isinstance(websocket, RoomChannel):
            raise TypeError("CodeRoomServer serves RoomChannel only; use serve_channel")
        await self.serve_channel(websocket)
