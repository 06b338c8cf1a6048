"""Brute-force defence and rate limits, counted in Valkey so every instance sees the same numbers.

Two kinds of counters:
- consecutive login failures per account (tenant slug + e-mail, known or not, so an attacker
  learns nothing from the throttle) and per client address. From the third failure on the
  account waits a delay that doubles each time; at ``login_max_failures`` it is locked for
  ``login_lockout_seconds``. A success clears the account's counter, never the address's,
  so mixing in a login of one's own does not reset a password-guessing run.
- fixed-window request counts: logins per address per minute, sign-ups per address per hour,
  and invitation acceptances per address per minute (as many as logins, counted apart: each
  one hashes a password too).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, replace
from typing import Any, Literal

from api.common.settings import Settings

ADDRESS_FAILURE_FACTOR = 5
"""An office behind one NAT address must not be locked out by one colleague's typos."""


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int
    failure_window_seconds: int
    lockout_seconds: int
    address_max_failures: int
    login_rate_per_minute: int
    signup_rate_per_hour: int
    invitation_rate_per_minute: int
    delay_after_failures: int = 3
    first_delay_seconds: float = 1.0
    max_delay_seconds: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ThrottlePolicy:
        return cls(
            max_failures=settings.login_max_failures,
            failure_window_seconds=settings.login_failure_window_seconds,
            lockout_seconds=settings.login_lockout_seconds,
            address_max_failures=settings.login_max_failures * ADDRESS_FAILURE_FACTOR,
            login_rate_per_minute=settings.login_rate_per_minute,
            signup_rate_per_hour=settings.signup_rate_per_hour,
            invitation_rate_per_minute=settings.login_rate_per_minute,
        )

    def without_delays(self) -> ThrottlePolicy:
        return replace(self, first_delay_seconds=0.0)

    def delay_after(self, failures: int) -> float:
        """1 s after the 3rd failure, then 2, 4, 8 ... up to the cap."""
        if failures < self.delay_after_failures or self.first_delay_seconds <= 0:
            return 0.0
        exponent = failures - self.delay_after_failures
        return float(min(self.max_delay_seconds, self.first_delay_seconds * 2**exponent))


@dataclass(frozen=True)
class Refusal:
    """Why an attempt is refused before any password is checked, and for how long."""

    reason: Literal["locked", "delayed", "rate_limited"]
    retry_after: int


@dataclass(frozen=True)
class FailureOutcome:
    failures: int
    locked_now: bool
    retry_after: int
    """Seconds until the next attempt is accepted (0 when it may come at once)."""


def _digest(*parts: str) -> str:
    """Counters keyed by a digest: no e-mail address is ever stored in Valkey."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def account_key(tenant_slug: str, email: str) -> str:
    return _digest(tenant_slug.strip().casefold(), email.strip().casefold())


def _seconds(milliseconds: int) -> int:
    return max(1, math.ceil(milliseconds / 1000))


class LoginThrottle:
    def __init__(self, valkey: Any, policy: ThrottlePolicy, *, prefix: str = "identity:throttle") -> None:
        self._valkey = valkey
        self.policy = policy
        self._prefix = prefix

    def _key(self, *parts: str) -> str:
        return ":".join((self._prefix, *parts))

    async def _window_count(self, name: str, address: str, limit: int, window_seconds: int) -> Refusal | None:
        now = time.time()
        window = int(now // window_seconds)
        key = self._key("rate", name, address, str(window))
        async with self._valkey.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window_seconds + 1)
            count, _ = await pipe.execute()
        if int(count) > limit:
            return Refusal("rate_limited", max(1, math.ceil((window + 1) * window_seconds - now)))
        return None

    async def count_login_request(self, address: str) -> Refusal | None:
        return await self._window_count("login", address, self.policy.login_rate_per_minute, 60)

    async def count_signup_request(self, address: str) -> Refusal | None:
        return await self._window_count("signup", address, self.policy.signup_rate_per_hour, 3600)

    async def count_invitation_request(self, address: str) -> Refusal | None:
        return await self._window_count("invitation", address, self.policy.invitation_rate_per_minute, 60)

    async def refusal(self, account: str, address: str) -> Refusal | None:
        """Locked or still waiting out the growing delay: refuse before hashing anything."""
        async with self._valkey.pipeline(transaction=False) as pipe:
            pipe.pttl(self._key("lock", "account", account))
            pipe.pttl(self._key("lock", "address", address))
            pipe.pttl(self._key("delay", "account", account))
            account_lock, address_lock, delay = await pipe.execute()
        locked_ms = max(int(account_lock), int(address_lock))
        if locked_ms > 0:
            return Refusal("locked", _seconds(locked_ms))
        if int(delay) > 0:
            return Refusal("delayed", _seconds(int(delay)))
        return None

    async def record_failure(self, account: str, address: str) -> FailureOutcome:
        policy = self.policy
        account_failures_key = self._key("failures", "account", account)
        address_failures_key = self._key("failures", "address", address)
        async with self._valkey.pipeline(transaction=True) as pipe:
            pipe.incr(account_failures_key)
            pipe.expire(account_failures_key, policy.failure_window_seconds)
            pipe.incr(address_failures_key)
            pipe.expire(address_failures_key, policy.failure_window_seconds)
            account_failures, _, address_failures, _ = await pipe.execute()
        account_failures = int(account_failures)
        address_failures = int(address_failures)

        lock_ms = policy.lockout_seconds * 1000
        if account_failures >= policy.max_failures or address_failures >= policy.address_max_failures:
            async with self._valkey.pipeline(transaction=True) as pipe:
                if account_failures >= policy.max_failures:
                    pipe.set(self._key("lock", "account", account), "1", px=lock_ms)
                    pipe.delete(account_failures_key, self._key("delay", "account", account))
                if address_failures >= policy.address_max_failures:
                    pipe.set(self._key("lock", "address", address), "1", px=lock_ms)
                    pipe.delete(address_failures_key)
                await pipe.execute()
            return FailureOutcome(account_failures, locked_now=True, retry_after=policy.lockout_seconds)

        delay = policy.delay_after(account_failures)
        if delay > 0:
            delay_ms = int(delay * 1000)
            await self._valkey.set(self._key("delay", "account", account), "1", px=delay_ms)
            return FailureOutcome(account_failures, locked_now=False, retry_after=_seconds(delay_ms))
        return FailureOutcome(account_failures, locked_now=False, retry_after=0)

    async def record_success(self, account: str) -> None:
        await self._valkey.delete(
            self._key("failures", "account", account), self._key("delay", "account", account)
        )

    async def clear(self) -> None:
        """Forget every counter (tests, and an operator lifting all lockouts at once)."""
        cursor = 0
        while True:
            cursor, keys = await self._valkey.scan(cursor, match=f"{self._prefix}:*", count=500)
            if keys:
                await self._valkey.delete(*keys)
            if int(cursor) == 0:
                break
