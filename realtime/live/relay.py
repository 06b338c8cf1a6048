"""Rooms of one dojo on several realtime instances, kept in step through Valkey streams.

Per dojo, three keys:

- ``mrbill:dojo:{id}:code:log`` - a stream of every document update, tagged with the room
  incarnation that made it. Each instance holding the room reads it and applies what others
  wrote; it is also the durable record of edits not yet in the state below.
- ``mrbill:dojo:{id}:code:state`` - a hash: ``update`` (the whole document, encoded) and
  ``upto`` (the last log entry it contains). Rooms write it now and then and trim the log up to
  it (compaction), atomically and only forward, so a late writer cannot roll it back; entries
  younger than `LiveLimits.log_retention_seconds` are kept whatever the state holds, since the
  log is also how the other instances learn of them.
- ``mrbill:dojo:{id}:code:presence`` - a short stream of awareness updates (cursors,
  selections, who is here) and queries for them; nothing of it is kept for long.

A room opening anywhere reads state and log in one atomic script, so it starts from every
edit ever acknowledged, whichever instance received it; the script writes the dojo's initial
code only when there is neither state nor log, so the initial code is written once per dojo.
Streams rather than pub/sub: a reader names the last entry it has, so nothing published
between loading a room and listening to it can be missed.

One task per instance reads all its rooms' streams at once (``XREAD`` over every key), plus a
control stream shared by all instances (closing a dojo's room everywhere, or checking its open
sockets again after its people changed) and a wake-up stream of its own (a room was added, read
again). One task writes: everything queued since its last
round trip goes out in one pipeline, in order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

import anyio
import structlog
from anyio import TASK_STATUS_IGNORED
from anyio.abc import TaskStatus
from valkey.asyncio import Valkey
from valkey.exceptions import ValkeyError

from realtime.live.limits import LiveLimits

logger = structlog.get_logger(__name__)

KEY_PREFIX = "mrbill:dojo:"
CONTROL_KEY = b"mrbill:dojo:live:control"
WAKE_KEY = "mrbill:dojo:live:wake:{instance}"
CONTROL_STREAM_LENGTH = 1000
PRESENCE_TTL_SECONDS = 3600
READ_BATCH = 1000
MAX_PENDING_WRITES = 20_000
"""Queued writes while Valkey is unreachable before each room's are folded into one."""
RETRY_DELAYS = (0.05, 0.2, 0.5, 1.0, 2.0)

OPEN_SCRIPT = """
local update = redis.call('HGET', KEYS[1], 'update')
local upto = redis.call('HGET', KEYS[1], 'upto')
if not update and ARGV[1] == '1' and redis.call('XLEN', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[1], 'update', ARGV[2], 'upto', '0-0')
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  update = ARGV[2]
  upto = '0-0'
end
local entries = redis.call('XRANGE', KEYS[2], '-', '+')
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local presence = '0-0'
if #last > 0 then presence = last[1][1] end
return {update or false, upto or false, entries, presence}
"""
"""KEYS: state, log, presence. ARGV: '1' to seed, the seed update, the state's TTL."""

COMPACT_SCRIPT = """
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function after(a, b)
  local ams, aseq = parse(a)
  local bms, bseq = parse(b)
  return ams > bms or (ams == bms and aseq > bseq)
end
local current = redis.call('HGET', KEYS[1], 'upto')
if current and not after(ARGV[2], current) then
  return 0
end
redis.call('HSET', KEYS[1], 'update', ARGV[1], 'upto', ARGV[2])
local now = redis.call('TIME')
local cutoff = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[4])
local trim_to = ARGV[2]
if parse(ARGV[2]) > cutoff then
  trim_to = string.format('%d-0', cutoff)
end
redis.call('XTRIM', KEYS[2], 'MINID', trim_to)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""
"""KEYS: state, log. ARGV: the whole document, the last log entry it contains, the TTL, and the
retention in milliseconds: entries younger than that stay, as another instance may not have
read them yet (the log is its only way to learn of them)."""


def state_key(dojo_id: UUID) -> str:
    return f"{KEY_PREFIX}{dojo_id}:code:state"


def log_key(dojo_id: UUID) -> str:
    return f"{KEY_PREFIX}{dojo_id}:code:log"


def presence_key(dojo_id: UUID) -> str:
    return f"{KEY_PREFIX}{dojo_id}:code:presence"


class RelayedRoom(Protocol):
    """A room as the relay sees it: where it is in its streams, and what to do with news."""

    dojo_id: UUID
    incarnation: bytes
    log_position: bytes
    presence_position: bytes

    def apply_remote_update(self, update: bytes) -> None: ...

    def apply_remote_presence(self, update: bytes) -> None: ...

    def answer_presence_query(self) -> None: ...

    def full_update(self) -> bytes: ...


RoomCloser = Callable[[UUID, int, str], None]
RoomRechecker = Callable[[UUID], None]


@dataclass(frozen=True)
class StoredRoom:
    """What Valkey holds of a room: its state, the log entries after it, the presence position."""

    state: bytes | None
    upto: bytes
    entries: list[tuple[bytes, bytes]]
    presence_position: bytes

    @property
    def exists(self) -> bool:
        return self.state is not None or bool(self.entries)

    @property
    def log_position(self) -> bytes:
        return self.entries[-1][0] if self.entries else self.upto

    def updates(self) -> list[bytes]:
        return ([self.state] if self.state is not None else []) + [update for _, update in self.entries]


@dataclass
class _Write:
    key: str | bytes
    fields: dict[bytes, bytes]
    room: RelayedRoom | None = None
    maxlen: int | None = None
    expire: tuple[tuple[str, int], ...] = ()


@dataclass
class RelayStats:
    published_updates: int = 0
    applied_remote_updates: int = 0
    write_round_trips: int = 0
    write_failures: int = 0
    reads: int = 0
    last_error: str | None = field(default=None)


def _fields(raw: Any) -> dict[bytes, bytes]:
    """Stream entry fields, whether the client parsed them into a dict or left the flat list."""
    if isinstance(raw, dict):
        return raw
    return {raw[index]: raw[index + 1] for index in range(0, len(raw), 2)}


class ValkeyRelay:
    """The Valkey side of the live rooms of one instance (see the module docstring)."""

    def __init__(
        self,
        commands: Valkey,
        reader: Valkey,
        limits: LiveLimits,
        *,
        instance_id: str,
        on_close: RoomCloser,
        on_recheck: RoomRechecker | None = None,
    ) -> None:
        self.limits = limits
        self.instance_id = instance_id
        self.stats = RelayStats()
        self._commands = commands
        self._reader = reader
        self._on_close = on_close
        self._on_recheck = on_recheck
        self._open = commands.register_script(OPEN_SCRIPT)
        self._compact = commands.register_script(COMPACT_SCRIPT)
        self._wake_key = WAKE_KEY.format(instance=instance_id).encode()
        self._rooms_by_log: dict[bytes, RelayedRoom] = {}
        self._rooms_by_presence: dict[bytes, RelayedRoom] = {}
        self._pending: deque[_Write] = deque()
        self._pending_event = anyio.Event()
        self._idle = anyio.Event()
        self._idle.set()
        self._control_position = b"0-0"
        self._wake_position = b"0-0"

    # -- loading and compacting -----------------------------------------------------------------

    async def load(self, dojo_id: UUID, seed: bytes | None) -> StoredRoom:
        """The room as stored; with a `seed`, a room never stored before is created from it."""
        raw = await self._open(
            keys=[state_key(dojo_id), log_key(dojo_id), presence_key(dojo_id)],
            args=[b"1" if seed is not None else b"0", seed or b"", self.limits.state_ttl_seconds],
        )
        state, upto, entries, presence = raw
        return StoredRoom(
            state=state,
            upto=upto or b"0-0",
            entries=[(entry_id, _fields(fields)[b"u"]) for entry_id, fields in entries],
            presence_position=presence,
        )

    async def compact(self, dojo_id: UUID, state: bytes, upto: bytes) -> bool:
        """Store `state` as containing the log up to `upto` and trim the log; False if already newer."""
        written = await self._compact(
            keys=[state_key(dojo_id), log_key(dojo_id)],
            args=[state, upto, self.limits.state_ttl_seconds, int(self.limits.log_retention_seconds * 1000)],
        )
        return bool(written)

    # -- publishing -----------------------------------------------------------------------------

    def publish_update(self, room: RelayedRoom, update: bytes) -> None:
        self.stats.published_updates += 1
        ttl = self.limits.state_ttl_seconds
        self._queue(
            _Write(
                log_key(room.dojo_id),
                {b"o": room.incarnation, b"u": update},
                room=room,
                expire=((log_key(room.dojo_id), ttl), (state_key(room.dojo_id), ttl)),
            )
        )

    def publish_presence(self, room: RelayedRoom, update: bytes) -> None:
        self._queue(
            _Write(
                presence_key(room.dojo_id),
                {b"o": room.incarnation, b"a": update},
                maxlen=self.limits.presence_log_length,
                expire=((presence_key(room.dojo_id), PRESENCE_TTL_SECONDS),),
            )
        )

    def query_presence(self, room: RelayedRoom) -> None:
        """Ask the other instances holding the room to publish who is there."""
        self._queue(
            _Write(
                presence_key(room.dojo_id),
                {b"o": room.incarnation, b"q": b"1"},
                maxlen=self.limits.presence_log_length,
                expire=((presence_key(room.dojo_id), PRESENCE_TTL_SECONDS),),
            )
        )

    async def broadcast_close(self, dojo_id: UUID, code: int, reason: str) -> None:
        await self._commands.xadd(
            CONTROL_KEY,
            {
                b"op": b"close",
                b"dojo": str(dojo_id).encode(),
                b"code": str(code).encode(),
                b"reason": reason.encode(),
            },
            maxlen=CONTROL_STREAM_LENGTH,
            approximate=True,
        )

    async def broadcast_recheck(self, dojo_id: UUID) -> None:
        """Tell the other instances to check the dojo's open sockets now (this one did already)."""
        await self._commands.xadd(
            CONTROL_KEY,
            {b"op": b"recheck", b"dojo": str(dojo_id).encode(), b"from": self.instance_id.encode()},
            maxlen=CONTROL_STREAM_LENGTH,
            approximate=True,
        )

    def _queue(self, write: _Write) -> None:
        self._pending.append(write)
        self._idle = anyio.Event() if self._idle.is_set() else self._idle
        self._pending_event.set()

    async def flush(self, within_seconds: float) -> bool:
        """Wait until every queued write reached Valkey; False when the time ran out first."""
        with anyio.move_on_after(within_seconds):
            await self._idle.wait()
            return True
        return False

    # -- registration ---------------------------------------------------------------------------

    def register(self, room: RelayedRoom) -> None:
        self._rooms_by_log[log_key(room.dojo_id).encode()] = room
        self._rooms_by_presence[presence_key(room.dojo_id).encode()] = room
        self._queue(
            _Write(self._wake_key, {b"w": b"1"}, maxlen=10, expire=((self._wake_key.decode(), 3600),))
        )

    def unregister(self, room: RelayedRoom) -> None:
        key = log_key(room.dojo_id).encode()
        if self._rooms_by_log.get(key) is room:
            del self._rooms_by_log[key]
            del self._rooms_by_presence[presence_key(room.dojo_id).encode()]

    # -- the two tasks --------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = TASK_STATUS_IGNORED) -> None:
        """Read and write until cancelled.

        Valkey being away when the process starts does not stop it: rooms cannot open until it
        is back (their sockets close with 1013, try again), and the relay keeps trying.
        """
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self._write_loop)
            tasks.start_soon(self._read_loop)
            task_status.started()

    async def _last_id(self, key: bytes) -> bytes:
        last = await self._commands.xrevrange(key, count=1)
        return bytes(last[0][0]) if last else b"0-0"

    async def _write_loop(self) -> None:
        failures = 0
        while True:
            if not self._pending:
                self._idle.set()
                await self._pending_event.wait()
                self._pending_event = anyio.Event()
                continue
            batch = list(self._pending)
            try:
                await self._write(batch)
            except (ValkeyError, OSError) as error:
                self.stats.write_failures += 1
                self.stats.last_error = repr(error)
                logger.warning("live relay write failed", error=repr(error), pending=len(self._pending))
                if len(self._pending) > MAX_PENDING_WRITES:
                    self._fold_pending()
                await anyio.sleep(RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)])
                failures += 1
                continue
            failures = 0
            for _ in range(len(batch)):
                self._pending.popleft()

    async def _write(self, batch: list[_Write]) -> None:
        expiries: dict[str, int] = {}
        async with self._commands.pipeline(transaction=False) as pipe:
            for write in batch:
                if write.maxlen is None:
                    pipe.xadd(write.key, write.fields)
                else:
                    pipe.xadd(write.key, write.fields, maxlen=write.maxlen, approximate=True)
                for key, ttl in write.expire:
                    expiries[key] = ttl
            for key, ttl in expiries.items():
                pipe.expire(key, ttl)
            await pipe.execute()
        self.stats.write_round_trips += 1

    def _fold_pending(self) -> None:
        """Valkey has been away long: keep one whole-document update per room, drop presence."""
        folded: dict[int, _Write] = {}
        for write in self._pending:
            if write.room is not None:
                folded[id(write.room)] = write
        self._pending = deque(
            _Write(
                write.key,
                {b"o": write.room.incarnation, b"u": write.room.full_update()},
                room=write.room,
                expire=write.expire,
            )
            for write in folded.values()
            if write.room is not None
        )

    async def _read_loop(self) -> None:
        failures = 0
        while True:
            try:
                self._control_position = await self._last_id(CONTROL_KEY)
                self._wake_position = await self._last_id(self._wake_key)
                break
            except (ValkeyError, OSError) as error:
                self.stats.last_error = repr(error)
                logger.warning("live relay cannot reach Valkey", error=repr(error))
                await anyio.sleep(RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)])
                failures += 1
        failures = 0
        while True:
            streams: dict[bytes, bytes] = {
                CONTROL_KEY: self._control_position,
                self._wake_key: self._wake_position,
            }
            for key, room in list(self._rooms_by_log.items()):
                streams[key] = room.log_position
            for key, room in list(self._rooms_by_presence.items()):
                streams[key] = room.presence_position
            try:
                response = await self._reader.xread(
                    streams,
                    count=READ_BATCH,
                    block=self.limits.relay_block_milliseconds,
                )
            except (ValkeyError, OSError) as error:
                self.stats.last_error = repr(error)
                logger.warning("live relay read failed", error=repr(error))
                await anyio.sleep(RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)])
                failures += 1
                continue
            failures = 0
            self.stats.reads += 1
            for key, entries in response or []:
                self._dispatch(bytes(key), entries)

    def _dispatch(self, key: bytes, entries: list[tuple[bytes, Any]]) -> None:
        if key == CONTROL_KEY:
            for entry_id, raw in entries:
                self._control_position = entry_id
                self._control(_fields(raw))
        elif key == self._wake_key:
            if entries:
                self._wake_position = entries[-1][0]
        elif (room := self._rooms_by_log.get(key)) is not None:
            for entry_id, raw in entries:
                room.log_position = entry_id
                fields = _fields(raw)
                if fields.get(b"o") != room.incarnation:
                    self.stats.applied_remote_updates += 1
                    room.apply_remote_update(fields[b"u"])
        elif (room := self._rooms_by_presence.get(key)) is not None:
            for entry_id, raw in entries:
                room.presence_position = entry_id
                fields = _fields(raw)
                if fields.get(b"o") == room.incarnation:
                    continue
                if b"a" in fields:
                    room.apply_remote_presence(fields[b"a"])
                elif b"q" in fields:
                    room.answer_presence_query()

    def _control(self, fields: dict[bytes, bytes]) -> None:
        operation = fields.get(b"op")
        if operation == b"recheck":
            self._recheck(fields)
            return
        if operation != b"close":
            return
        try:
            dojo_id = UUID(fields[b"dojo"].decode())
            code = int(fields[b"code"])
            reason = fields[b"reason"].decode()
        except (KeyError, ValueError, UnicodeDecodeError):
            logger.warning("live relay ignored a malformed control message", fields=repr(fields))
            return
        self._on_close(dojo_id, code, reason)

    def _recheck(self, fields: dict[bytes, bytes]) -> None:
        if self._on_recheck is None or fields.get(b"from") == self.instance_id.encode():
            return
        try:
            dojo_id = UUID(fields[b"dojo"].decode())
        except (KeyError, ValueError, UnicodeDecodeError):
            logger.warning("live relay ignored a malformed control message", fields=repr(fields))
            return
        self._on_recheck(dojo_id)
