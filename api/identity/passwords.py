"""Password hashing (argon2id through the passlib API of `libpass`) and the password policy.

Hashing costs tens of milliseconds of CPU on purpose, so it always runs in a worker thread:
the event loop keeps serving other requests while one login is being checked.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from passlib.hash import argon2

from api.common.settings import Settings

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
"""Long enough for passphrases, short enough that nobody can make us hash a megabyte."""


class PasswordPolicyViolation(ValueError):
    """The password breaks a rule; `reason` is a stable code the API turns into a message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_password_policy(password: str, email: str) -> None:
    """At least 12 characters, at most 128, and not built from the account's e-mail."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyViolation("too_short")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordPolicyViolation("too_long")
    lowered = password.casefold()
    local_part = email.split("@", 1)[0].casefold()
    if lowered == email.casefold() or (len(local_part) >= 3 and local_part in lowered):
        raise PasswordPolicyViolation("contains_email")


@dataclass(frozen=True)
class PasswordCheck:
    valid: bool
    replacement_hash: str | None = None
    """A fresh hash when the stored one used older parameters (rehash on login)."""


class PasswordHasher:
    """argon2id with the parameters from settings; tests configure cheap ones."""

    def __init__(self, settings: Settings) -> None:
        self._hasher: Any = argon2.using(
            type="ID",
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost_kib,
            parallelism=settings.argon2_parallelism,
        )
        self._dummy_hash: str = self._hasher.hash("mrbill-dummy-password-for-equal-timing")

    def hash_sync(self, password: str) -> str:
        return str(self._hasher.hash(password))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hash_sync, password)

    def _check_sync(self, password: str, stored_hash: str | None) -> PasswordCheck:
        if stored_hash is None:
            # Unknown account: spend the same time as a real check, then refuse.
            self._hasher.verify(password, self._dummy_hash)
            return PasswordCheck(valid=False)
        try:
            valid = bool(self._hasher.verify(password, stored_hash))
        except (ValueError, TypeError):
            self._hasher.verify(password, self._dummy_hash)
            return PasswordCheck(valid=False)
        if valid and self._hasher.needs_update(stored_hash):
            return PasswordCheck(valid=True, replacement_hash=self.hash_sync(password))
        return PasswordCheck(valid=valid)

    async def check(self, password: str, stored_hash: str | None) -> PasswordCheck:
        """Verify `password`; with no stored hash, verify a dummy so timing does not tell."""
        return await asyncio.to_thread(self._check_sync, password, stored_hash)
