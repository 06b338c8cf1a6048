"""The session's routes: the WebSocket and the REST reads of a dojo's history.

The socket route is public as far as the app's token middleware goes: a browser cannot put a
header on a WebSocket, so the channel authenticates the socket itself (query parameter or
header) and answers with close codes instead of HTTP statuses.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, WebSocket, get, websocket
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath

from api.common.auth import TokenClaims
from api.common.pagination import Page, PageParams
from realtime.session.protocol import ChatMessageOut
from realtime.session.runtime import STATE_KEY, SessionRuntime
from realtime.session.schemas import ReplayOut, SnapshotOut

PUBLIC: dict[str, Any] = {"public": True}


def provide_session(request: Request[Any, Any, Any]) -> SessionRuntime:
    runtime: SessionRuntime = request.app.state[STATE_KEY]
    return runtime


Session = NamedDependency[SessionRuntime]
Claims = NamedDependency[TokenClaims]
Paging = NamedDependency[PageParams]


class DojoSessionController(Controller):
    path = "/v1/dojos"
    tags = ["dojo session"]  # noqa: RUF012 - Litestar's declared class attribute
    dependencies = {  # noqa: RUF012
        "session": Provide(provide_session, sync_to_thread=False),
    }
    """``claims`` and ``paging`` come from the app (`realtime.dojos.deps.DEPENDENCIES`)."""

    @websocket("/{dojo_id:uuid}/session", opt=PUBLIC)
    async def session_socket(self, socket: WebSocket[Any, Any, Any], dojo_id: FromPath[UUID]) -> None:
        """The dojo's session channel (chat, presence, randori, runs): see `realtime.session.protocol`."""
        runtime: SessionRuntime = socket.app.state[STATE_KEY]
        await runtime.channel.serve(socket, dojo_id)

    @get(
        "/{dojo_id:uuid}/snapshots",
        operation_id="listDojoSnapshots",
        summary="The dojo's code snapshots, oldest first (members only)",
    )
    async def list_snapshots(
        self, session: Session, claims: Claims, paging: Paging, dojo_id: FromPath[UUID]
    ) -> Page[SnapshotOut]:
        return await session.history.snapshots(claims, dojo_id, paging)

    @get(
        "/{dojo_id:uuid}/messages",
        operation_id="listDojoChatMessages",
        summary="The dojo's chat, oldest first (members only)",
    )
    async def list_messages(
        self, session: Session, claims: Claims, paging: Paging, dojo_id: FromPath[UUID]
    ) -> Page[ChatMessageOut]:
        return await session.history.messages(claims, dojo_id, paging)

    @get(
        "/{dojo_id:uuid}/replay",
        operation_id="getDojoReplay",
        summary="A finished dojo's history (snapshots and chat in time order) to play back",
    )
    async def get_replay(self, session: Session, claims: Claims, dojo_id: FromPath[UUID]) -> ReplayOut:
        return await session.history.replay(claims, dojo_id)


ROUTE_HANDLERS = [DojoSessionController]
