"""The bounds one live room and one socket live within, so no client can slow the others down."""

from __future__ import annotations

from dataclasses import dataclass

from api.common.settings import Settings


@dataclass(frozen=True)
class LiveLimits:
    """Defaults suit a dojo: one shared file, a few people typing, a screenful of cursors.

    A message above `max_message_bytes` closes the socket (4413). Inbound messages beyond
    `messages_per_second` (with a burst of `burst_messages`) are read late, which slows the
    sender down without touching the room; a sender still over the rate after
    `flood_grace_seconds` of that is closed (4429). A client whose unsent messages pass
    `send_queue_messages` or `send_queue_bytes` cannot keep up and is dropped (1013, try again),
    so the room never waits for it.

    A change that would make the document's encoded state larger than `max_document_bytes` is
    not applied nor relayed, and its sender is closed (4413 ``document-too-large``); changes that
    keep it within (or shrink it) go through, and nothing stored is touched.
    """

    max_message_bytes: int = 1024 * 1024
    messages_per_second: float = 60.0
    burst_messages: int = 120
    flood_grace_seconds: float = 2.0
    send_queue_messages: int = 2000
    send_queue_bytes: int = 8 * 1024 * 1024
    close_timeout_seconds: float = 2.0
    """How long a close may wait for a peer that does not read: then the socket is just dropped."""
    compact_every_updates: int = 500
    """Updates after which a room writes its whole state to Valkey and trims the update log."""
    compact_every_seconds: float = 30.0
    """A room with unsaved updates writes its whole state at least this often."""
    log_retention_seconds: float = 60.0
    """Log entries younger than this survive compaction: other instances may not have read them yet."""
    state_ttl_seconds: int = 7 * 24 * 3600
    """How long a room's state outlives its last edit in Valkey (the dojo's snapshots keep it longer)."""
    presence_log_length: int = 1000
    """Presence messages kept per room for other instances (they read only what is new)."""
    relay_block_milliseconds: int = 5000
    """How long one read of the relay waits for news before it asks again."""
    max_document_bytes: int = 1024 * 1024
    """The largest encoded state (``Y.encodeStateAsUpdate``) a room's document may grow to."""
    recheck_seconds: float = 30.0
    """How often an open socket's token (the denylist) and membership are checked again."""
    token_leeway_seconds: float = 30.0
    """A socket closes this long after its token's ``exp``: the leeway the opening check allows."""

    @classmethod
    def from_settings(cls, settings: Settings) -> LiveLimits:
        """The defaults, with what an operator sets (``MRBILL_DOJO_DOCUMENT_MAX_BYTES``, ...)."""
        return cls(
            max_document_bytes=settings.dojo_document_max_bytes,
            recheck_seconds=settings.dojo_socket_recheck_seconds,
        )
