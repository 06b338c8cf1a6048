"""A dojo's history over REST: its snapshots, its chat, and the replay of a finished dojo.

Only members see it: the dojo's creator and whoever joined it (as participant or observer, even
if they left since). Anyone else, and any other tenant, gets the same 404 as for a dojo that does
not exist, so ids reveal nothing.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from api.common.auth import TokenClaims
from api.common.errors import NotFoundError
from api.common.i18n import N_
from api.common.pagination import Page, PageParams
from api.common.tenancy import tenant_transaction
from realtime.session import repository
from realtime.session.chat import chat_out
from realtime.session.errors import NO_SUCH_DOJO, DojoNotFinishedError
from realtime.session.protocol import ChatMessageOut
from realtime.session.repository import Connection, DojoView
from realtime.session.schemas import ReplayEvent, ReplayOut, SnapshotOut


async def _member_dojo(connection: Connection, claims: TokenClaims, dojo_id: UUID) -> DojoView:
    dojo = await repository.load_dojo(connection, claims.tenant_id, dojo_id, claims.user_id)
    if dojo is None or not dojo.is_member(claims.user_id):
        raise NotFoundError(NO_SUCH_DOJO.msgid)
    return dojo


def _finished(dojo: DojoView) -> bool:
    return dojo.status == "COMPLETED" or (dojo.status == "CANCELLED" and dojo.started_at is not None)


class SessionHistory:
    def __init__(self, engine: Any) -> None:
        self._engine = engine

    async def snapshots(self, claims: TokenClaims, dojo_id: UUID, paging: PageParams) -> Page[SnapshotOut]:
        async with tenant_transaction(self._engine, claims.tenant_id) as transaction:
            await _member_dojo(transaction.connection, claims, dojo_id)
            records, total = await repository.snapshots_page(
                transaction.connection, claims.tenant_id, dojo_id, offset=paging.offset, limit=paging.limit
            )
        return Page.build([SnapshotOut.of(record) for record in records], total, paging)

    async def messages(self, claims: TokenClaims, dojo_id: UUID, paging: PageParams) -> Page[ChatMessageOut]:
        async with tenant_transaction(self._engine, claims.tenant_id) as transaction:
            await _member_dojo(transaction.connection, claims, dojo_id)
            records, total = await repository.chat_messages_page(
                transaction.connection, claims.tenant_id, dojo_id, offset=paging.offset, limit=paging.limit
            )
        return Page.build([chat_out(record) for record in records], total, paging)

    async def replay(self, claims: TokenClaims, dojo_id: UUID) -> ReplayOut:
        async with tenant_transaction(self._engine, claims.tenant_id) as transaction:
            dojo = await _member_dojo(transaction.connection, claims, dojo_id)
            if not _finished(dojo):
                raise DojoNotFinishedError(N_("A dojo can be replayed once it has finished."))
            snapshots = await repository.all_snapshots(transaction.connection, claims.tenant_id, dojo_id)
            messages = await repository.all_chat_messages(transaction.connection, claims.tenant_id, dojo_id)
        events = [
            ReplayEvent(
                type="snapshot",
                at=snapshot.timestamp,
                snapshot_id=snapshot.snapshot_id,
                kind=snapshot.kind,
                code=snapshot.code,
                user_id=snapshot.user_id,
            )
            for snapshot in snapshots
        ] + [
            ReplayEvent(
                type="chat",
                at=message.timestamp,
                message_id=message.message_id,
                user_id=message.user_id,
                display_name=message.display_name,
                message=message.message,
            )
            for message in messages
        ]
        events.sort(key=lambda event: event.at)
        initial_code = dojo.initial_code or ""
        return ReplayOut(
            dojo_id=dojo.dojo_id,
            status=dojo.status,
            language=dojo.language,
            initial_code=initial_code,
            started_at=dojo.started_at,
            ended_at=dojo.ended_at,
            events=events,
            final_code=snapshots[-1].code if snapshots else initial_code,
        )
