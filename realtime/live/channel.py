"""One client's WebSocket as pycrdt's room sees it: a `pycrdt.Channel` with the limits built in.

pycrdt-websocket's own ASGI adapter hands the room a socket that sends as slowly as the peer
reads and can only close silently. Here a socket instead:

- sends without waiting: messages queue in memory and one writer task drains them, so the
  room's broadcast never waits for anybody; a queue past its bound means the peer cannot keep
  up, and the socket is dropped (1013) rather than the room slowed;
- sends what queued up meanwhile in as few frames as it can (updates merged into one update,
  presence changes into one awareness message): a busy room costs fewer frames per client;
- holds document updates until the client's sync step 2 went out (an update about structs
  the client has not seen yet would otherwise reach it first);
- drops a client's echoes before anything else looks at them (pycrdt's ``Provider`` sends back
  every update it applies, y-websocket every presence change it receives; the room has them
  already), at a tenth of a message's budget;
- reads no faster than the client's budget (a token bucket): a client over it is simply read
  late, and closed (4429) when it stays over it;
- closes (4413) on a message above the size limit;
- drops an observer's document changes (telling it once, with y-protocols' permission-denied
  message), while its presence and its sync requests go through; a participant made an observer
  while connected is one from the next check of its admission on (`readmitted`);
- closes with a code and a JSON reason (`realtime.live.errors`).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

import anyio
import structlog
from anyio import CancelScope

from api.common.i18n import translate
from realtime.live import errors
from realtime.live.errors import CloseReason
from realtime.live.limits import LiveLimits
from realtime.live.protocol import (
    MalformedMessageError,
    MessageKind,
    merge_awareness_messages,
    merge_update_messages,
    message_kind,
    permission_denied_message,
)
from realtime.ports import Admission

logger = structlog.get_logger(__name__)

ECHO_MEMORY_MESSAGES = 256
ECHO_COST = 0.1
"""What an echo costs of a client's message budget: a client in a busy room sends many."""
COALESCE_MAX_BYTES = 32 * 1024


def _digest(message: bytes) -> bytes:
    return hashlib.blake2b(message, digest_size=16).digest()


AsgiReceive = Callable[[], Awaitable[dict[str, Any]]]
AsgiSend = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class AwarenessGate(Protocol):
    """What the room decides about a client's presence message (see `CodeRoom.accept_awareness`)."""

    def awareness_is_news(self, message: bytes) -> bool: ...

    def accept_awareness(self, channel: RoomChannel, message: bytes) -> bytes | None: ...


def coalesce(messages: list[bytes], max_frame_bytes: int = COALESCE_MAX_BYTES) -> list[bytes]:
    """`messages` in fewer frames: each run of updates and of presence changes between two other
    messages becomes one message, sent where the run's first message was. A run stops growing at
    `max_frame_bytes` (clients have their own limit on a frame: httpx-ws's is 64 KiB)."""
    frames: list[bytes] = []
    runs: dict[MessageKind, tuple[int, list[bytes], int]] = {}

    def close_run(kind: MessageKind) -> None:
        slot, run, _ = runs.pop(kind)
        frames[slot] = (
            merge_update_messages(run) if kind is MessageKind.SYNC_UPDATE else merge_awareness_messages(run)
        )

    for message in messages:
        kind = message_kind(message)
        if kind not in (MessageKind.SYNC_UPDATE, MessageKind.AWARENESS):
            for open_kind in list(runs):
                close_run(open_kind)
            frames.append(message)
            continue
        if kind in runs and runs[kind][2] + len(message) > max_frame_bytes:
            close_run(kind)
        if kind in runs:
            slot, run, size = runs[kind]
            run.append(message)
            runs[kind] = (slot, run, size + len(message))
        else:
            runs[kind] = (len(frames), [message], len(message))
            frames.append(message)
    for open_kind in list(runs):
        close_run(open_kind)
    return frames


def room_path(dojo_id: object) -> str:
    """The room's name in the WebsocketServer: one room per dojo."""
    return f"dojo/{dojo_id}/code"


class RoomChannel:
    """A client of a room; see the module docstring for what it enforces."""

    def __init__(
        self,
        *,
        receive: AsgiReceive,
        send: AsgiSend,
        admission: Admission,
        locale: str,
        limits: LiveLimits,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.admission = admission
        self.locale = locale
        self.limits = limits
        self.member: dict[str, object] = {
            "userId": str(admission.user_id),
            "name": admission.display_name,
            "role": admission.role,
            "facilitator": admission.facilitator,
        }
        self.client_ids: set[int] = set()
        """Awareness client ids this socket speaks for; their presence is removed when it closes."""
        self.gate: AwarenessGate | None = None
        self.refused_updates = 0
        self.dropped_echoes = 0
        self.close_reason: CloseReason | None = None
        self._path = room_path(admission.dojo_id)
        self._receive = receive
        self._send = send
        self._clock = clock
        self._outbox: deque[bytes] = deque()
        self._outbox_bytes = 0
        self._held: list[bytes] | None = []
        self._echoes: dict[bytes, bool] = {}
        """Digests of the last updates sent, oldest first."""
        self._wakeup = asyncio.Event()
        self._recv_scope: CancelScope | None = None
        self._writer_scope: CancelScope | None = None
        self._peer_gone = False
        self._told_read_only = False
        self._tokens = float(limits.burst_messages)
        self._refilled_at = clock()
        self._throttled_since: float | None = None

    # -- pycrdt's Channel protocol ------------------------------------------------------------

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self) -> RoomChannel:
        return self

    async def __anext__(self) -> bytes:
        while True:
            message = await self._next_raw()
            if len(message) > self.limits.max_message_bytes:
                self.close(errors.too_large(self.limits.max_message_bytes))
                raise StopAsyncIteration
            try:
                if self._is_echo(message):
                    self.dropped_echoes += 1
                    await self._pace(ECHO_COST)
                    continue
                await self._pace(1.0)
                accepted = self._admit_message(message)
            except MalformedMessageError:
                self.close(errors.invalid_message())
                raise StopAsyncIteration from None
            if accepted is not None:
                return accepted

    def _is_echo(self, message: bytes) -> bool:
        """A message that brings the room nothing: a client sending back what it was sent.

        pycrdt's Provider returns every update it applies, byte for byte; y-websocket returns
        every presence change it receives. Both are dropped here, at a tenth of the budget of a
        message, so a client in a busy room is not taken for a flood.
        """
        kind = message_kind(message)
        if kind is MessageKind.SYNC_UPDATE:
            return self._echoes.pop(_digest(message), False)
        if kind is MessageKind.AWARENESS and self.gate is not None:
            return not self.gate.awareness_is_news(message)
        return False

    async def recv(self) -> bytes:
        try:
            return await self.__anext__()
        except StopAsyncIteration:
            raise anyio.EndOfStream from None

    async def send(self, message: bytes) -> None:
        """Queue `message` for the client; never waits (pycrdt's room calls it for every client)."""
        self.send_nowait(message)

    # -- sending --------------------------------------------------------------------------------

    def send_nowait(self, message: bytes) -> None:
        if self.close_reason is not None:
            return
        if self._held is not None:
            kind = message_kind(message)
            if kind is MessageKind.SYNC_UPDATE:
                self._held.append(message)
                self._account(len(message))
                return
            if kind is MessageKind.SYNC_STEP2:
                held, self._held = self._held, None
                self._enqueue(message)
                for update in held:
                    self._outbox.append(update)
                self._wakeup.set()
                return
        self._enqueue(message)

    def _remember_echo(self, message: bytes) -> None:
        """pycrdt's Provider sends back every update it receives, byte for byte: expect it once."""
        self._echoes[_digest(message)] = True
        if len(self._echoes) > ECHO_MEMORY_MESSAGES:
            del self._echoes[next(iter(self._echoes))]

    def _account(self, size: int) -> None:
        self._outbox_bytes += size
        queued = len(self._outbox) + (len(self._held) if self._held else 0)
        if queued > self.limits.send_queue_messages or self._outbox_bytes > self.limits.send_queue_bytes:
            logger.info(
                "live socket dropped: it could not keep up",
                dojo_id=str(self.admission.dojo_id),
                queued_messages=queued,
                queued_bytes=self._outbox_bytes,
            )
            self.close(errors.slow_consumer())

    def _enqueue(self, message: bytes) -> None:
        self._outbox.append(message)
        self._account(len(message))
        self._wakeup.set()

    @property
    def queued_messages(self) -> int:
        return len(self._outbox)

    async def run_writer(self) -> None:
        """Drain the queue to the socket until closed, then send the close frame.

        Runs as its own task beside the room's service of this client. What queued up while
        the socket was busy goes out in as few frames as possible: the updates as one merged
        update, the presence changes as one awareness message (nothing arrives later than it
        would have one by one). A drop (slow consumer) abandons what is queued; any other close
        first delivers it, within the close timeout.
        """
        with CancelScope() as scope:
            self._writer_scope = scope
            while True:
                if self._outbox:
                    batch = list(self._outbox)
                    self._outbox.clear()
                    self._outbox_bytes = 0
                    for frame in coalesce(batch):
                        if message_kind(frame) is MessageKind.SYNC_UPDATE:
                            self._remember_echo(frame)
                        try:
                            await self._send({"type": "websocket.send", "bytes": frame})
                        except OSError:  # the server noticed the peer gone before the room did
                            self._peer_gone = True
                            self.close(errors.going_away())
                            return
                    continue
                if self.close_reason is not None:
                    break
                self._wakeup.clear()
                await self._wakeup.wait()
        self._outbox.clear()
        if self._peer_gone:
            return
        reason = self.close_reason or errors.internal_error()
        with anyio.move_on_after(self.limits.close_timeout_seconds, shield=True):
            try:
                await self._send(
                    {
                        "type": "websocket.close",
                        "code": reason.close_code,
                        "reason": reason.render(self.locale),
                    }
                )
            except OSError:
                self._peer_gone = True

    def close(self, reason: CloseReason) -> None:
        """End the client's session with `reason` (the first reason given wins)."""
        if self.close_reason is not None:
            return
        self.close_reason = reason
        if self._recv_scope is not None:
            self._recv_scope.cancel()
        if self._writer_scope is not None:
            if reason.code == "too-slow":
                self._writer_scope.cancel()
            else:
                self._writer_scope.deadline = anyio.current_time() + self.limits.close_timeout_seconds
        self._wakeup.set()

    @property
    def closed(self) -> bool:
        return self.close_reason is not None or self._peer_gone

    def readmitted(self, admission: Admission) -> None:
        """The dojo records admitted the person again (`realtime.socket_watch`): their role counts now."""
        if admission.role != self.admission.role:
            self._told_read_only = False
        self.admission = admission
        self.member["role"] = admission.role
        self.member["facilitator"] = admission.facilitator

    # -- receiving ------------------------------------------------------------------------------

    async def _next_raw(self) -> bytes:
        while True:
            if self.close_reason is not None or self._peer_gone:
                raise StopAsyncIteration
            with CancelScope() as scope:
                self._recv_scope = scope
                event = await self._receive()
            self._recv_scope = None
            if scope.cancelled_caught:
                raise StopAsyncIteration
            if event["type"] == "websocket.disconnect":
                self._peer_gone = True
                self._wakeup.set()
                raise StopAsyncIteration
            if event["type"] != "websocket.receive":
                continue
            data = event.get("bytes")
            if data is None:
                # y-websocket speaks binary only; text is another protocol.
                self.close(errors.invalid_message())
                raise StopAsyncIteration
            return bytes(data)

    async def _pace(self, cost: float) -> None:
        """`cost` tokens per message; a client without them is read late, then closed if it keeps on."""
        rate = self.limits.messages_per_second
        self._refill()
        if self._tokens >= cost:
            self._tokens -= cost
            self._throttled_since = None
            return
        now = self._clock()
        if self._throttled_since is None:
            self._throttled_since = now
        elif now - self._throttled_since > self.limits.flood_grace_seconds:
            logger.info(
                "live socket flooding",
                dojo_id=str(self.admission.dojo_id),
                user_id=str(self.member["userId"]),
            )
            self.close(errors.too_many())
            raise StopAsyncIteration
        with CancelScope() as scope:
            self._recv_scope = scope
            await anyio.sleep((cost - self._tokens) / rate)
        self._recv_scope = None
        if scope.cancelled_caught:
            raise StopAsyncIteration
        self._refill()
        self._tokens -= cost

    def _refill(self) -> None:
        now = self._clock()
        budget = self._tokens + (now - self._refilled_at) * self.limits.messages_per_second
        self._tokens = min(float(self.limits.burst_messages), budget)
        self._refilled_at = now

    def _admit_message(self, message: bytes) -> bytes | None:
        """The message the room should see, or None to drop it."""
        kind = message_kind(message)
        if kind.changes_document:
            if not self.admission.read_only:
                return message
            self.refused_updates += 1
            if not self._told_read_only:
                self._told_read_only = True
                self.send_nowait(
                    permission_denied_message(translate(self.locale, errors.OBSERVER_EDIT_REFUSED))
                )
            return None
        if kind is MessageKind.SYNC_STEP1:
            return message
        if kind is MessageKind.AWARENESS and self.gate is not None:
            return self.gate.accept_awareness(self, message)
        return None  # auth and awareness queries from clients, unknown types
