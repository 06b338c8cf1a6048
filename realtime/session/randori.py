"""The randori timer: whoever drives changes every N minutes, with a break every k turns.

The server owns the clock. The timer's state lives in Valkey (one JSON value per dojo), so every
instance reads the same deadline, an absolute time, and every client gets that deadline plus
the seconds left by the server's clock. Changes are optimistic transactions (WATCH/MULTI): two
commands racing on two instances never lose one another's effect.

Turns end without anyone sending anything: running timers sit in a sorted set by deadline, and
each instance looks every fraction of a second for one that has passed. Only the instance that
takes the dojo's short lease advances it, and the transition itself is conditional on the state
still being the one that expired, so a turn is never ended twice.

Drivers are the dojo's PARTICIPANTs (never observers), in the order they joined unless the
facilitator reorders them; a participant who is not connected when their turn would come is
passed over. The transitions are pure functions of the state and the time (`RandoriState`),
tested without Valkey.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import msgspec
import structlog
from valkey.exceptions import WatchError

from realtime.session.protocol import RandoriPhase, RandoriStatus, RandoriTick, RandoriView
from realtime.session.relay import KEY_PREFIX

logger = structlog.get_logger(__name__)

Clock = Callable[[], float]
"""Epoch seconds; tests inject one they can move forward."""

DUE_KEY = f"{KEY_PREFIX}:randori:due"
"""Sorted set of running timers by deadline (epoch milliseconds)."""
MAX_OPTIMISTIC_RETRIES = 20
CATCH_UP_SECONDS = 2.0
"""A turn noticed this late still starts at the previous deadline, so turns keep their length;
after a longer gap (no instance was running) the next one starts now."""
STATE_TTL_SECONDS = 7 * 24 * 3600


class RandoriError(Exception):
    """A command that does not apply to the timer as it is (a stable ``code`` the client translates)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True, slots=True)
class RandoriSettings:
    turn_seconds: float
    break_every: int
    break_seconds: float


class RandoriState(msgspec.Struct, kw_only=True):
    status: RandoriStatus = "IDLE"
    phase: RandoriPhase = "TURN"
    order: list[UUID] = msgspec.field(default_factory=list)
    driver_index: int = 0
    turns_done: int = 0
    turn_seconds: float
    break_every: int
    break_seconds: float
    deadline: float | None = None
    """Epoch seconds, while RUNNING."""
    remaining: float | None = None
    """Seconds left, while PAUSED."""
    version: int = 0

    @classmethod
    def fresh(cls, settings: RandoriSettings) -> RandoriState:
        return cls(
            turn_seconds=settings.turn_seconds,
            break_every=settings.break_every,
            break_seconds=settings.break_seconds,
        )

    # -- reading ---------------------------------------------------------------------------------

    @property
    def settings(self) -> RandoriSettings:
        return RandoriSettings(self.turn_seconds, self.break_every, self.break_seconds)

    @property
    def driver_id(self) -> UUID | None:
        if self.status == "IDLE" or self.phase == "BREAK" or not self.order:
            return None
        return self.order[self.driver_index % len(self.order)]

    def next_driver_id(self, present: set[UUID] | None = None) -> UUID | None:
        if not self.order or self.status == "IDLE":
            return None
        return self.order[self._next_index(present)]

    def remaining_at(self, now: float) -> float | None:
        if self.status == "RUNNING" and self.deadline is not None:
            return max(0.0, self.deadline - now)
        if self.status == "PAUSED":
            return self.remaining
        return None

    def view(self, now: float, present: set[UUID] | None = None) -> RandoriView:
        remaining = self.remaining_at(now)
        return RandoriView(
            status=self.status,
            phase=self.phase,
            order=list(self.order),
            driver_id=self.driver_id,
            next_driver_id=self.next_driver_id(present),
            turns_done=self.turns_done,
            turn_seconds=self.turn_seconds,
            break_every=self.break_every,
            break_seconds=self.break_seconds,
            deadline=_instant(self.deadline)
            if self.status == "RUNNING" and self.deadline is not None
            else None,
            remaining_seconds=None if remaining is None else round(remaining, 3),
            server_time=_instant(now),
            version=self.version,
        )

    def tick(self, now: float) -> RandoriTick:
        remaining = self.remaining_at(now)
        return RandoriTick(
            status=self.status,
            phase=self.phase,
            driver_id=self.driver_id,
            deadline=_instant(self.deadline)
            if self.status == "RUNNING" and self.deadline is not None
            else None,
            remaining_seconds=None if remaining is None else round(remaining, 3),
            server_time=_instant(now),
            version=self.version,
        )

    # -- transitions -----------------------------------------------------------------------------

    def _next_index(self, present: set[UUID] | None) -> int:
        """The next driver's index, passing over people not connected (unless nobody is, then
        simply the next one)."""
        count = len(self.order)
        candidates = [(self.driver_index + 1 + offset) % count for offset in range(count)]
        if present:
            for index in candidates:
                if self.order[index] in present:
                    return index
        return candidates[0]

    def start(self, now: float, order: list[UUID] | None, participants: Iterable[UUID]) -> None:
        if self.status != "IDLE":
            raise RandoriError("randori-already-started")
        if order is not None:
            self.order = _valid_order(order, set(participants) | set(self.order))
        if not self.order:
            raise RandoriError("randori-no-participants")
        self.status, self.phase = "RUNNING", "TURN"
        self.driver_index, self.turns_done = 0, 0
        self.deadline, self.remaining = now + self.turn_seconds, None

    def pause(self, now: float) -> None:
        if self.status != "RUNNING" or self.deadline is None:
            raise RandoriError("randori-not-running")
        self.status, self.remaining, self.deadline = "PAUSED", max(0.0, self.deadline - now), None

    def resume(self, now: float) -> None:
        if self.status != "PAUSED":
            raise RandoriError("randori-not-paused")
        self.status, self.deadline = "RUNNING", now + (self.remaining or 0.0)
        self.remaining = None

    def stop(self) -> None:
        if self.status == "IDLE":
            raise RandoriError("randori-not-running")
        self.status, self.phase, self.deadline, self.remaining = "IDLE", "TURN", None, None

    def end_phase(self, now: float, present: set[UUID] | None) -> Literal["rotated", "break"]:
        """The turn or break is over: next driver, or a break after every `break_every` turns.
        A paused timer stays paused, with the whole next phase ahead of it."""
        if self.status == "IDLE":
            raise RandoriError("randori-not-running")
        base = now
        if (
            self.status == "RUNNING"
            and self.deadline is not None
            and 0 <= now - self.deadline < CATCH_UP_SECONDS
        ):
            base = self.deadline
        outcome: Literal["rotated", "break"]
        if self.phase == "TURN":
            self.turns_done += 1
            if self.break_every > 0 and self.turns_done % self.break_every == 0:
                self.phase, outcome = "BREAK", "break"
                length = self.break_seconds
            else:
                self.driver_index, outcome = self._next_index(present), "rotated"
                length = self.turn_seconds
        else:
            self.phase, outcome = "TURN", "rotated"
            self.driver_index = self._next_index(present)
            length = self.turn_seconds
        if self.status == "RUNNING":
            self.deadline = base + length
        else:
            self.remaining = length
        return outcome

    def reorder(self, order: list[UUID], participants: Iterable[UUID]) -> None:
        current = self.driver_id
        self.order = _valid_order(order, set(participants) | set(self.order))
        if not self.order:
            raise RandoriError("randori-no-participants")
        self.driver_index = self.order.index(current) if current in self.order else 0

    def add(self, user_id: UUID) -> bool:
        if user_id in self.order:
            return False
        self.order.append(user_id)
        return True


def _valid_order(order: list[UUID], known: set[UUID]) -> list[UUID]:
    if len(set(order)) != len(order):
        raise RandoriError("randori-invalid-order")
    if any(user_id not in known for user_id in order):
        raise RandoriError("randori-invalid-order")
    return list(order)


def _instant(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, UTC)


_state_decoder = msgspec.json.Decoder(RandoriState)


def _state_key(dojo_id: UUID) -> str:
    return f"{KEY_PREFIX}:{dojo_id}:randori"


def _lease_key(dojo_id: UUID) -> str:
    return f"{KEY_PREFIX}:{dojo_id}:randori:lease"


Mutation = Callable[[RandoriState], str | None]
"""Changes the state in place and names what happened; None: nothing changed, write nothing."""


@dataclass(frozen=True, slots=True)
class Change:
    state: RandoriState
    reason: str


_RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RandoriStore:
    """The timers of every dojo, in Valkey."""

    def __init__(self, valkey: Any, clock: Clock = time.time) -> None:
        self._valkey = valkey
        self.clock = clock

    async def load(self, dojo_id: UUID) -> RandoriState | None:
        raw = await self._valkey.get(_state_key(dojo_id))
        return None if raw is None else _state_decoder.decode(raw)

    async def mutate(self, dojo_id: UUID, settings: RandoriSettings, mutation: Mutation) -> Change | None:
        """Apply `mutation` atomically (retried on a concurrent change); None when it changed nothing."""
        key = _state_key(dojo_id)
        for _ in range(MAX_OPTIMISTIC_RETRIES):
            async with self._valkey.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    state = RandoriState.fresh(settings) if raw is None else _state_decoder.decode(raw)
                    reason = mutation(state)
                    if reason is None:
                        await pipe.unwatch()
                        return None
                    state.version += 1
                    pipe.multi()
                    pipe.set(key, msgspec.json.encode(state).decode(), ex=STATE_TTL_SECONDS)
                    if state.status == "RUNNING" and state.deadline is not None:
                        pipe.zadd(DUE_KEY, {str(dojo_id): int(state.deadline * 1000)})
                    else:
                        pipe.zrem(DUE_KEY, str(dojo_id))
                    await pipe.execute()
                    return Change(state, reason)
                except WatchError:
                    continue
        raise RuntimeError(f"the randori of {dojo_id} kept changing under every attempt")

    async def forget(self, dojo_id: UUID) -> None:
        async with self._valkey.pipeline(transaction=True) as pipe:
            pipe.delete(_state_key(dojo_id))
            pipe.zrem(DUE_KEY, str(dojo_id))
            await pipe.execute()

    async def forget_due(self, dojo_id: UUID) -> None:
        await self._valkey.zrem(DUE_KEY, str(dojo_id))

    async def due(self, now: float) -> list[UUID]:
        members: list[str] = await self._valkey.zrangebyscore(DUE_KEY, "-inf", int(now * 1000))
        due: list[UUID] = []
        for member in members:
            try:
                due.append(UUID(member))
            except ValueError:
                await self._valkey.zrem(DUE_KEY, member)
        return due

    async def take_lease(self, dojo_id: UUID, holder: str, seconds: float) -> bool:
        return bool(await self._valkey.set(_lease_key(dojo_id), holder, nx=True, px=int(seconds * 1000)))

    async def release_lease(self, dojo_id: UUID, holder: str) -> None:
        await self._valkey.eval(_RELEASE_LEASE, 1, _lease_key(dojo_id), holder)


def settings_of(rotation_minutes: float, break_every: int, break_minutes: float) -> RandoriSettings:
    return RandoriSettings(
        turn_seconds=float(rotation_minutes) * 60.0,
        break_every=int(break_every),
        break_seconds=float(break_minutes) * 60.0,
    )
