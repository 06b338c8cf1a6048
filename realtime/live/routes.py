"""The WebSocket of a dojo's shared code: ``/v1/dojos/{dojo_id}/code``.

y-websocket builds its URL as ``serverUrl + "/" + roomName``, so a web client uses the dojo's
``wsUrl`` (``wss://host/v1/dojos/{dojo_id}``) with the room name ``code`` and its token in
``params: {access_token}``; a pycrdt client opens the same URL with httpx-ws and hands the
socket to ``pycrdt.Provider``. The token may come in the ``access_token`` query parameter
(browsers cannot set headers on a WebSocket) or the ``Authorization`` header.

Opening a socket: the token is verified and checked against the denylist, the dojo records
admit the caller (`RoomAccess.admit`), and only then is the socket accepted and the room
served. A refusal is an accepted socket closed at once with a 4xxx code and a JSON reason, so
a browser can read why (a refused handshake would only say "failed").
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from uuid import UUID

from litestar import WebSocket
from litestar.exceptions import WebSocketDisconnect
from litestar.handlers import WebsocketRouteHandler, websocket
from litestar.params import FromPath
from litestar.types import Scope

if TYPE_CHECKING:
    from realtime.live.service import LiveRoomsRuntime

CODE_SOCKET_PATH = "/v1/dojos/{dojo_id:uuid}/code"
ROOM_NAME = "code"
"""The room name y-websocket appends to the dojo's ``wsUrl``."""
ACCESS_TOKEN_PARAMETER = "access_token"  # noqa: S105 - a parameter name, no secret


def socket_token(scope: Scope) -> str | None:
    """The access token of a socket: the Authorization header, else ``?access_token=``."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return value.decode("latin-1")
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    tokens = query.get(ACCESS_TOKEN_PARAMETER)
    return f"Bearer {tokens[0]}" if tokens else None


def live_route_handlers(runtime: LiveRoomsRuntime) -> list[WebsocketRouteHandler]:
    """The route handlers to add to the realtime app (public: the socket authenticates itself)."""

    async def code_socket(socket: WebSocket[Any, Any, Any], dojo_id: FromPath[UUID]) -> None:
        async def receive() -> dict[str, Any]:
            return dict(await socket.receive())

        async def send(message: MutableMapping[str, Any]) -> None:
            try:
                await socket.send(message)  # type: ignore[arg-type]
            except WebSocketDisconnect as gone:  # the same signal as the server's own
                raise ConnectionResetError(str(gone)) from gone

        await runtime.serve_socket(socket.scope, receive, send, dojo_id)

    handler = websocket(
        CODE_SOCKET_PATH,
        opt={"public": True},
        name="dojo-code-socket",
        signature_namespace={"WebSocket": WebSocket, "UUID": UUID, "FromPath": FromPath},
    )(code_socket)
    return [handler]
