"""The live rooms of the dojos: the shared code as a Yjs document over WebSockets.

Entry point: `build_live_rooms` (see `realtime.live.service`). The document's shared type is a
``Y.Text`` named ``"code"`` (`CODE_TEXT`); presence is y-protocols' awareness, each state
stamped by the server with ``member`` (`MEMBER_FIELD`).
"""

from realtime.live.limits import LiveLimits
from realtime.live.protocol import CODE_TEXT, MEMBER_FIELD
from realtime.live.routes import CODE_SOCKET_PATH, ROOM_NAME
from realtime.live.service import LiveRoomsRuntime, build_live_rooms

__all__ = [
    "CODE_SOCKET_PATH",
    "CODE_TEXT",
    "MEMBER_FIELD",
    "ROOM_NAME",
    "LiveLimits",
    "LiveRoomsRuntime",
    "build_live_rooms",
]
