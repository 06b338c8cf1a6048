"""The dojo's session channel: chat, presence, the randori timer, "Run" and snapshots.

Entry point: `build_session_channel` (see `realtime.session.runtime`); the wire protocol is in
`realtime.session.protocol`.
"""

from realtime.session.config import SessionConfig
from realtime.session.runtime import STATE_KEY, SessionEndingRooms, SessionRuntime, build_session_channel

__all__ = [
    "STATE_KEY",
    "SessionConfig",
    "SessionEndingRooms",
    "SessionRuntime",
    "build_session_channel",
]
