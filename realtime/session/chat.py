"""Chat: checked, counted against the sender's rate, stored, then broadcast by the channel.

A message is stored before anyone sees it, so the history a newcomer gets is never missing a
line the others read. The rate is a sliding window per person and dojo, counted in Valkey, so
opening a second socket (or reaching another instance) does not double anyone's allowance.
Observers chat too: read-only applies to the code, not to the conversation.
"""

from __future__ import annotations

import math
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from api.common.tenancy import tenant_transaction
from realtime.ports import Admission
from realtime.session import repository
from realtime.session.config import SessionConfig
from realtime.session.protocol import ChatMessageOut
from realtime.session.relay import KEY_PREFIX
from realtime.session.repository import ChatRecord


class ChatRefused(Exception):
    """The message is not posted; ``code`` and ``retry_after`` go back to the sender only."""

    def __init__(self, code: str, *, retry_after: float | None = None, limit: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.retry_after = retry_after
        self.limit = limit


def _rate_key(dojo_id: UUID, user_id: UUID) -> str:
    return f"{KEY_PREFIX}:{dojo_id}:chat-rate:{user_id}"


def chat_out(record: ChatRecord) -> ChatMessageOut:
    return ChatMessageOut(
        message_id=record.message_id,
        dojo_id=record.dojo_id,
        user_id=record.user_id,
        display_name=record.display_name,
        message=record.message,
        timestamp=record.timestamp,
    )


def clean_text(text: str) -> str:
    """Trimmed, with line breaks kept but other control characters (bells, escapes) removed."""
    kept = "".join(character for character in text if character in "\n\t" or character.isprintable())
    return kept.strip()


class ChatService:
    def __init__(self, config: SessionConfig, valkey: Any, engine: Any) -> None:
        self._config = config
        self._valkey = valkey
        self._engine = engine

    async def _count_against_rate(self, dojo_id: UUID, user_id: UUID) -> None:
        """Sliding window: the attempt is recorded, and withdrawn again when over the limit."""
        window = self._config.chat_rate_window_seconds
        key = _rate_key(dojo_id, user_id)
        now = time.time()
        member = f"{now:.6f}:{uuid.uuid4().hex[:8]}"
        async with self._valkey.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now - window)
            pipe.zadd(key, {member: now})
            pipe.zrange(key, 0, 0, withscores=True)
            pipe.zcard(key)
            pipe.expire(key, math.ceil(window) + 1)
            _, _, oldest, count, _ = await pipe.execute()
        if int(count) > self._config.chat_rate_count:
            await self._valkey.zrem(key, member)
            oldest_at = float(oldest[0][1]) if oldest else now
            retry_after = max(0.1, round(oldest_at + window - now, 1))
            raise ChatRefused(
                "chat-rate-limited", retry_after=retry_after, limit=self._config.chat_rate_count
            )

    async def post(self, admission: Admission, text: str) -> ChatMessageOut:
        message = clean_text(text)
        if not message:
            raise ChatRefused("chat-empty")
        if len(message) > self._config.chat_max_chars:
            raise ChatRefused("chat-too-long", limit=self._config.chat_max_chars)
        await self._count_against_rate(admission.dojo_id, admission.user_id)
        record = ChatRecord(
            message_id=uuid.uuid4(),
            dojo_id=admission.dojo_id,
            user_id=admission.user_id,
            display_name=admission.display_name,
            message=message,
            timestamp=datetime.now(UTC),
        )
        async with tenant_transaction(self._engine, admission.tenant_id) as transaction:
            await repository.insert_chat_message(
                transaction.connection,
                message_id=record.message_id,
                tenant_id=admission.tenant_id,
                dojo_id=record.dojo_id,
                user_id=record.user_id,
                message=record.message,
                timestamp=record.timestamp,
            )
        return chat_out(record)

    async def history(self, tenant_id: UUID, dojo_id: UUID) -> list[ChatMessageOut]:
        async with tenant_transaction(self._engine, tenant_id) as transaction:
            records = await repository.recent_chat_messages(
                transaction.connection, tenant_id, dojo_id, self._config.chat_history_size
            )
        return [chat_out(record) for record in records]
