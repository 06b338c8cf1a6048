"""Input rules and throttle arithmetic that need no services."""

from __future__ import annotations

import hashlib

import pytest

from api.common.settings import Settings
from api.identity.service import email_error, locale_error, slug_error
from api.identity.throttle import ThrottlePolicy, account_key
from api.identity.tokens import hash_refresh_token, new_refresh_token

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("slug", ["abc", "padaria-do-ze", "a1b", "x" * 63, "9-9"])
def test_good_slugs(slug: str) -> None:
    assert slug_error(slug) is None


@pytest.mark.parametrize(
    "slug", ["ab", "x" * 64, "-abc", "abc-", "Abc", "a_b", "a b", "ação", "platform", "admin", "api", "www"]
)
def test_bad_or_reserved_slugs(slug: str) -> None:
    assert slug_error(slug) is not None


@pytest.mark.parametrize("email", ["ze@padaria.com.br", "a.b+tag@example.co", "x@sub.domain.example"])
def test_good_emails(email: str) -> None:
    assert email_error(email) is None


@pytest.mark.parametrize(
    "email", ["ze", "ze@", "@x.com", "ze@localhost", "z e@x.com", "ze@-x.com", "a@b@c.com"]
)
def test_bad_emails(email: str) -> None:
    assert email_error(email) is not None


def test_locales() -> None:
    assert locale_error("pt_BR") is None
    assert locale_error("pt-BR") is None
    assert locale_error("en") is None
    assert locale_error(None) is None
    assert locale_error("fr") is not None
    assert locale_error("pt") is not None


def test_the_delay_doubles_from_the_third_failure_up_to_the_cap() -> None:
    policy = ThrottlePolicy.from_settings(Settings())
    delays = [policy.delay_after(failures) for failures in range(1, 12)]
    assert delays == [0.0, 0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert policy.max_failures == 10
    assert policy.without_delays().delay_after(9) == 0.0


def test_account_keys_ignore_case_and_never_contain_the_email() -> None:
    key = account_key("Acme", " Ze@Example.com ")
    assert key == account_key("acme", "ze@example.com")
    assert "example" not in key
    assert key != account_key("acme2", "ze@example.com")


def test_refresh_tokens_are_random_and_stored_as_sha256() -> None:
    token, digest = new_refresh_token()
    other, _ = new_refresh_token()
    assert token != other
    assert len(token) >= 43
    assert digest == hash_refresh_token(token) == hashlib.sha256(token.encode()).hexdigest()
