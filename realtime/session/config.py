"""The session channel's limits and rhythms, read from ``MRBILL_DOJO_SESSION_*`` variables.

Everything a room feels (how long a chat message may be, how often one may post, how often the
code is snapshotted, how often the timer is re-announced) is here, so an operator can tune it and
tests can shorten it without touching the code. Built once per process in the app factory.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from workflows.sandbox_run_types import RUN_ACTIVITY_TIMEOUT
from workflows.sandbox_run_types import TASK_QUEUE as SANDBOX_QUEUE


class SessionConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MRBILL_DOJO_SESSION_", env_file=".env", extra="ignore")

    # -- chat ------------------------------------------------------------------------------------
    chat_max_chars: int = 2000
    chat_rate_count: int = 5
    """At most this many chat messages per person and dojo within `chat_rate_window_seconds`."""
    chat_rate_window_seconds: float = 10.0
    chat_history_size: int = 50
    """Messages a client gets in its ``welcome``; older ones are on ``GET .../messages``."""

    # -- the socket ------------------------------------------------------------------------------
    max_frame_bytes: int = 64 * 1024
    """A larger frame closes the socket with 4413."""
    messages_per_second: float = 20.0
    message_burst: int = 40
    """Token bucket of one socket's frames; an empty bucket answers ``too-fast``, and a client that
    keeps sending at three times the rate is closed with 4429."""
    outbox_size: int = 512
    """Frames waiting for a slow client; when full the client is dropped (1013), never the room."""
    send_timeout_seconds: float = 10.0
    """A single frame that takes longer than this to hand to the client drops it too."""
    token_leeway_seconds: int = 30
    """A socket is closed (4401 ``token-expired``) this long after its access token expires, unless
    the client sent a fresh one with ``token.refresh``."""
    touch_interval_seconds: float = 60.0
    """How often a connected person's ``last_active_time`` is recorded (`RoomAccess.touch`)."""

    # -- presence --------------------------------------------------------------------------------
    presence_ttl_seconds: float = 30.0
    """A connection whose instance stopped refreshing it for this long is gone (a crashed instance)."""
    presence_refresh_seconds: float = 10.0

    # -- randori ---------------------------------------------------------------------------------
    randori_turn_minutes: float = 5.0
    randori_break_every: int = 4
    """A break after every this many turns; 0: no breaks."""
    randori_break_minutes: float = 5.0
    """Used when the dojo itself names no rotation, break rhythm or break length."""
    tick_seconds: float = 5.0
    """How often every client gets the countdown again (``randori.tick``)."""
    timer_poll_seconds: float = 0.25
    """How often an instance looks for a turn or break that has ended."""
    timer_lease_seconds: float = 5.0

    # -- snapshots -------------------------------------------------------------------------------
    snapshot_interval_seconds: float = 30.0
    snapshot_poll_seconds: float = 1.0

    # -- runs ------------------------------------------------------------------------------------
    run_task_queue: str = SANDBOX_QUEUE
    run_stdin_max_bytes: int = 32 * 1024
    """Below `max_frame_bytes`, so an oversized input is refused with a reason rather than a close."""
    run_result_timeout_seconds: float = RUN_ACTIVITY_TIMEOUT.total_seconds() + 30.0
    """A run whose result did not come back by then is answered SANDBOX_UNAVAILABLE to the room (no
    sandbox worker polls, or Temporal went away), so the room's "Run" button never stays blocked."""
    temporal_connect_timeout_seconds: float = 3.0
    temporal_rpc_timeout_seconds: float = 5.0
