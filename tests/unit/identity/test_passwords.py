"""The password policy and argon2id hashing, with no services."""

from __future__ import annotations

import pytest

from api.common.settings import Settings
from api.identity.passwords import PasswordHasher, PasswordPolicyViolation, check_password_policy

pytestmark = pytest.mark.unit


def _settings(time_cost: int = 1, memory_kib: int = 1024) -> Settings:
    return Settings(argon2_time_cost=time_cost, argon2_memory_cost_kib=memory_kib, argon2_parallelism=1)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("elevenchars", "too_short"),
        ("x" * 129, "too_long"),
        ("maria.silva@example.com", "contains_email"),
        ("My name is MARIA.SILVA ok", "contains_email"),
    ],
)
def test_policy_refuses(password: str, reason: str) -> None:
    with pytest.raises(PasswordPolicyViolation) as refused:
        check_password_policy(password, "maria.silva@example.com")
    assert refused.value.reason == reason


@pytest.mark.parametrize("password", ["twelve chars", "x" * 128, "correct horse battery staple"])
def test_policy_accepts(password: str) -> None:
    check_password_policy(password, "maria.silva@example.com")


def test_a_very_short_local_part_does_not_ban_common_letters() -> None:
    check_password_policy("a long passphrase with jo in it", "jo@example.com")


async def test_hashes_are_argon2id_with_the_configured_parameters() -> None:
    hasher = PasswordHasher(_settings(time_cost=2, memory_kib=2048))
    stored = await hasher.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$v=19$m=2048,t=2,p=1$")
    assert (await hasher.check("correct horse battery staple", stored)).valid
    assert not (await hasher.check("correct horse battery stapler", stored)).valid
    assert not (await hasher.check("anything", "not a hash")).valid


async def test_a_hash_made_with_older_parameters_is_replaced_on_success() -> None:
    old = await PasswordHasher(_settings(time_cost=1)).hash("correct horse battery staple")
    current = PasswordHasher(_settings(time_cost=2))
    check = await current.check("correct horse battery staple", old)
    assert check.valid
    assert check.replacement_hash is not None
    assert "t=2" in check.replacement_hash
    assert (
        await current.check("correct horse battery staple", check.replacement_hash)
    ).replacement_hash is None
    assert (await current.check("wrong password", old)).replacement_hash is None


async def test_an_unknown_account_verifies_a_dummy_hash_of_the_same_cost() -> None:
    """No timing tells who exists: an unknown account (or a broken stored hash) costs one argon2
    verification with the very parameters of a real one. (A timed comparison would be a flaky test
    on a busy machine; the verification it performs is what makes the cost equal.)"""
    hasher = PasswordHasher(_settings(time_cost=2, memory_kib=8192))
    stored = await hasher.hash("correct horse battery staple")

    def parameters(encoded: str) -> str:
        return encoded.split("$")[3]  # $argon2id$v=19$m=8192,t=2,p=1$salt$digest

    assert parameters(hasher._dummy_hash) == parameters(stored) == "m=8192,t=2,p=1"
    verified: list[str] = []
    real_verify = hasher._hasher.verify

    def counting_verify(secret: str, encoded: str) -> bool:
        verified.append(encoded)
        return bool(real_verify(secret, encoded))

    hasher._hasher.verify = counting_verify
    assert not hasher._check_sync("wrong password guess", None).valid
    assert not hasher._check_sync("wrong password guess", "not-a-hash").valid
    assert hasher._check_sync("correct horse battery staple", stored).valid
    assert verified == [hasher._dummy_hash, "not-a-hash", hasher._dummy_hash, stored]
