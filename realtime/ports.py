"""What the live session needs from the dojo records, and what the dojo records need from it.

The REST side (`realtime.dojos`) owns the database; the live side (`realtime.live`) owns the
sockets and the shared documents. They meet only through these types, so each can be tested
without the other and neither imports the other's modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol
from uuid import UUID

from api.common.auth import TokenClaims

Role = Literal["PARTICIPANT", "OBSERVER"]
DojoStatus = Literal["SCHEDULED", "ACTIVE", "COMPLETED", "CANCELLED"]


@dataclass(frozen=True)
class Admission:
    """Who may enter a dojo's room, and how: the answer of `RoomAccess.admit`."""

    tenant_id: UUID
    dojo_id: UUID
    user_id: UUID
    display_name: str
    role: Role
    facilitator: bool
    """The dojo's creator: may pause, skip or reorder the randori and end the session."""
    status: DojoStatus
    language: str
    initial_code: str
    locale: str | None = None

    @property
    def read_only(self) -> bool:
        return self.role == "OBSERVER" or self.status != "ACTIVE"


class AccessRefused(Exception):
    """Why a socket is closed at once: a 4xxx close code and a reason a client can act on.

    Close codes: 4401 token missing, invalid, expired or revoked; 4403 not a member (or another
    tenant's dojo, which is indistinguishable from a missing one on purpose: 4404); 4404 no such
    dojo; 4409 the dojo is not running (scheduled, completed or cancelled); 4413 too large;
    4429 too fast.
    """

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message


class RoomAccess(Protocol):
    async def admit(self, claims: TokenClaims, dojo_id: UUID) -> Admission:
        """The caller's admission to the dojo's room, or `AccessRefused`."""
        ...

    async def touch(self, admission: Admission) -> None:
        """Record the participant as active now (``last_active_time``)."""
        ...


class LiveRooms(Protocol):
    """The live side, as the REST side sees it."""

    async def code_of(self, dojo_id: UUID) -> str | None:
        """The current text of the dojo's shared code, or None when no room is open here or elsewhere."""
        ...

    async def close_room(self, dojo_id: UUID, code: int, reason: str) -> None:
        """End every socket of the dojo (on end or cancel), on every instance."""
        ...

    async def recheck(self, dojo_id: UUID) -> None:
        """Who is in the dojo changed (a person left, was removed or got another role): its open
        sockets ask `RoomAccess.admit` again now, on every instance, rather than at the next sweep.

        This instance's sockets are checked before it returns; other instances are told and check
        theirs as soon as they hear of it. A refused socket closes with the refusal's code (4403
        ``not-a-participant`` for a removed person); a new role applies to the socket from then on.
        """
        ...
