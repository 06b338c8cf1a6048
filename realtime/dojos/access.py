"""Who may enter a dojo's live room: `realtime.ports.RoomAccess` over the dojo database.

The live side has already verified the access token; here its claims meet the dojo's rows, in
a transaction of the token's tenant, under row-level security. So another tenant's dojo does
not exist (4404, the same answer as a dojo that was never created), a private dojo one never
took part in does not either (4404, as its REST resource answers 404), a visible dojo one is
not in now is 4403, and a dojo that is not running is 4409. The reason is a stable code a
client acts on; the message is for the person, in their language.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from api.common.auth import TokenClaims
from api.common.i18n import N_, current_locale, normalize_locale, translate
from api.common.tenancy import tenant_transaction
from realtime.dojos import repository
from realtime.dojos.service import can_see
from realtime.ports import AccessRefused, Admission, DojoStatus

CLOSE_NOT_A_MEMBER = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_NOT_RUNNING = 4409

_NOT_RUNNING: dict[str, tuple[str, str]] = {
    "SCHEDULED": ("dojo-not-started", N_("The dojo has not started yet.")),
    "COMPLETED": ("dojo-finished", N_("The dojo has ended.")),
    "CANCELLED": ("dojo-finished", N_("The dojo was cancelled.")),
}


class DojoRoomAccess:
    """`admit` on every socket open, `touch` while a person is active (both short transactions)."""

    def __init__(self, engine: Any, *, admit_statuses: tuple[DojoStatus, ...] = ("ACTIVE",)) -> None:
        self._engine = engine
        self.admit_statuses = admit_statuses
        """Statuses whose rooms open; the contract (`AccessRefused`) admits running dojos only."""

    async def admit(self, claims: TokenClaims, dojo_id: UUID) -> Admission:
        locale = normalize_locale(claims.locale) or current_locale.get()
        async with tenant_transaction(self._engine, claims.tenant_id) as transaction:
            connection = transaction.connection
            dojo = await repository.fetch_dojo(connection, dojo_id)
            row = (
                None
                if dojo is None
                else await repository.fetch_participant(connection, dojo_id, claims.user_id)
            )
        if dojo is None or not can_see(dojo, claims.user_id, row):
            raise _refused(CLOSE_NOT_FOUND, "dojo-not-found", N_("There is no such dojo."), locale)
        if row is None or not row.is_present:
            raise _refused(
                CLOSE_NOT_A_MEMBER,
                "not-a-participant",
                N_("Join the dojo first, then open its room."),
                locale,
            )
        if dojo.status not in self.admit_statuses:
            reason, message = _NOT_RUNNING.get(
                dojo.status, ("dojo-not-running", N_("The dojo is not running."))
            )
            raise _refused(CLOSE_NOT_RUNNING, reason, message, locale)
        return Admission(
            tenant_id=dojo.tenant_id,
            dojo_id=dojo.dojo_id,
            user_id=claims.user_id,
            display_name=row.display_name,
            role=row.role,
            facilitator=dojo.creator_id == claims.user_id,
            status=dojo.status,
            language=dojo.language,
            initial_code=dojo.initial_code or "",
            locale=normalize_locale(claims.locale),
        )

    async def touch(self, admission: Admission) -> None:
        async with tenant_transaction(self._engine, admission.tenant_id) as transaction:
            await repository.touch_participant(transaction.connection, admission.dojo_id, admission.user_id)


def _refused(code: int, reason: str, message: str, locale: str) -> AccessRefused:
    return AccessRefused(code, reason, translate(locale, message))
