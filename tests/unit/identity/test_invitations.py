"""Invitation tokens, their states and the invitation e-mail in each language: no services needed."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import pytest

from activities.identity import compose_invitation_email, invitation_email_key, invitation_links
from api.identity.invitations import (
    ACCEPTED,
    EXPIRED,
    REVOKED,
    InvitationLetter,
    closed_reason,
    hash_invitation_token,
    new_invitation_token,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 29, 13, 0, tzinfo=UTC)
TOKEN = "k" * 43
BASE_URL = "http://127.0.0.1:58000/"


def letter(locale: str, *, inviter_name: str | None = "Olivia Owner") -> InvitationLetter:
    return InvitationLetter(
        tenant_id="00000000-0000-4000-8000-0000000000aa",
        user_id="00000000-0000-4000-8000-0000000000cc",
        invitation_id="00000000-0000-4000-8000-0000000000dd",
        email="ivy@acme.example",
        full_name="Ivy Invitee",
        locale=locale,
        tenant_name="Padaria do Zé",
        tenant_slug="padaria",
        inviter_name=inviter_name,
        expires_at=NOW + timedelta(days=7),
    )


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def _html(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def test_a_token_has_256_random_bits_and_only_its_digest_is_kept() -> None:
    first, first_digest = new_invitation_token()
    second, _ = new_invitation_token()

    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", first)
    assert first != second
    assert first_digest == hashlib.sha256(first.encode()).hexdigest() == hash_invitation_token(first)
    assert first not in first_digest


@pytest.mark.parametrize(
    ("accepted_at", "revoked_at", "expires_at", "reason"),
    [
        (None, None, NOW + timedelta(seconds=1), None),
        (NOW, None, NOW + timedelta(days=1), ACCEPTED),
        (None, NOW, NOW + timedelta(days=1), REVOKED),
        (None, None, NOW, EXPIRED),
        (NOW, None, NOW - timedelta(days=1), ACCEPTED),
    ],
)
def test_an_invitation_is_open_until_accepted_revoked_or_expired(
    accepted_at: datetime | None, revoked_at: datetime | None, expires_at: datetime, reason: str | None
) -> None:
    assert (
        closed_reason(accepted_at=accepted_at, revoked_at=revoked_at, expires_at=expires_at, now=NOW)
        == reason
    )


def test_the_link_carries_the_token_and_the_api_url_is_on_the_edge() -> None:
    page, api = invitation_links(BASE_URL, "a-b_c")

    assert page == "http://127.0.0.1:58000/invitations/accept?token=a-b_c"
    assert parse_qs(urlsplit(page).query) == {"token": ["a-b_c"]}
    assert api == "http://127.0.0.1:58000/v1/invitations/accept"


def test_the_english_invitation_has_the_link_the_code_and_how_to_use_them() -> None:
    message = compose_invitation_email(
        letter("en"), TOKEN, mail_from="Mr Bill <no-reply@x>", base_url=BASE_URL
    )

    assert message["Subject"] == 'You are invited to join "Padaria do Zé" on Mr Bill'
    assert message["To"] == "ivy@acme.example"
    assert message["Content-Language"] == "en"
    assert message["X-MrBill-Invitation-Id"] == "00000000-0000-4000-8000-0000000000dd"
    text = _text(message)
    assert text.startswith("Hello Ivy Invitee,")
    assert 'Olivia Owner invited you to join "Padaria do Zé"' in text
    assert f"http://127.0.0.1:58000/invitations/accept?token={TOKEN}\n" in text
    assert f"\n{TOKEN}\n" in text, "the code stands on a line of its own, easy to copy"
    assert "POST http://127.0.0.1:58000/v1/invitations/accept" in text
    assert "December 6, 2026" in text
    assert "UTC" in text
    assert 'organisation code "padaria"' in text
    html = _html(message)
    assert f'<a href="http://127.0.0.1:58000/invitations/accept?token={TOKEN}">' in html
    assert f"<code>{TOKEN}</code>" in html
    assert '<html lang="en">' in html


def test_the_portuguese_invitation_is_written_in_brazilian_time() -> None:
    message = compose_invitation_email(
        letter("pt_BR"), TOKEN, mail_from="Mr Bill <no-reply@x>", base_url=BASE_URL
    )

    assert message["Subject"] == 'Convite para participar de "Padaria do Zé" no Mr Bill'
    assert message["Content-Language"] == "pt-BR"
    text = _text(message)
    assert text.startswith("Olá, Ivy Invitee,")
    assert 'Olivia Owner convidou você para participar de "Padaria do Zé"' in text
    assert "O seu código de convite:" in text
    assert "6 de dezembro de 2026 10:00:00" in text, "13:00 UTC is 10:00 in Brasília"
    assert "Se você não esperava este convite" in text
    assert TOKEN in text


def test_without_an_inviter_the_invitation_still_reads_well() -> None:
    message = compose_invitation_email(
        letter("en", inviter_name=None), TOKEN, mail_from="Mr Bill <no-reply@x>", base_url=BASE_URL
    )

    assert 'You were invited to join "Padaria do Zé" on Mr Bill' in _text(message)


def test_one_email_per_invitation() -> None:
    assert invitation_email_key("abc") == "invitation-abc"
