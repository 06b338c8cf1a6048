"""Wrong join codes are counted per person, so guessing codes is slow as well as hopeless.

A code has about 59 bits of randomness, so guessing is already out of reach; the count keeps a
script from even trying, and costs an honest person nothing (a typo or two). The counter lives
in Valkey for `WINDOW_SECONDS` from the first miss, shared by every instance of the service.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from valkey.asyncio import Valkey

from realtime.dojos.errors import JoinCodeAttemptsError

MAX_FAILED_ATTEMPTS = 20
WINDOW_SECONDS = 300
KEY = "mrbill:dojo:join-code-misses:{tenant_id}:{user_id}"


class JoinCodeThrottle(Protocol):
    async def check(self, tenant_id: UUID, user_id: UUID) -> None:
        """`JoinCodeAttemptsError` when the person missed too often lately."""
        ...

    async def missed(self, tenant_id: UUID, user_id: UUID) -> None: ...


class ValkeyJoinCodeThrottle:
    def __init__(
        self, client: Valkey, *, max_failed: int = MAX_FAILED_ATTEMPTS, window_seconds: int = WINDOW_SECONDS
    ) -> None:
        self._client = client
        self.max_failed = max_failed
        self.window_seconds = window_seconds

    @staticmethod
    def key(tenant_id: UUID, user_id: UUID) -> str:
        return KEY.format(tenant_id=tenant_id, user_id=user_id)

    async def check(self, tenant_id: UUID, user_id: UUID) -> None:
        key = self.key(tenant_id, user_id)
        misses = await self._client.get(key)
        if misses is not None and int(misses) >= self.max_failed:
            ttl = await self._client.ttl(key)
            raise JoinCodeAttemptsError(retry_after=ttl if ttl > 0 else self.window_seconds)

    async def missed(self, tenant_id: UUID, user_id: UUID) -> None:
        key = self.key(tenant_id, user_id)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, self.window_seconds, nx=True)
            await pipe.execute()
