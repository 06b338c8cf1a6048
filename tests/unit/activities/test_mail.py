"""MailboxMailer, the dev/test stand-in for SES: RFC 5322 files, delivered once per key."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from pathlib import Path

import pytest

from activities.identity import compose_welcome_email
from activities.mail import MailboxMailer, MailRejectedError, read_message
from workflows.tenant_onboarding_types import WelcomeEmail

pytestmark = pytest.mark.unit


def _message(subject: str = "Olá") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Mr Bill <no-reply@mrbill.local>"
    message["To"] = "ana@acme.example"
    message["Subject"] = subject
    message.set_content("Conteúdo com acentuação.\n")
    return message


async def test_a_message_becomes_one_parseable_eml_file(tmp_path: Path) -> None:
    mailer = MailboxMailer(tmp_path / "mailbox")
    message_id = await mailer.send(_message(), idempotency_key="welcome/t1/u1")

    [path] = mailer.messages()
    assert path.name == "welcome_t1_u1.eml"
    raw = path.read_bytes()
    assert b"\r\n" in raw, "RFC 5322 lines end with CRLF"
    parsed = read_message(path)
    assert parsed["Message-ID"] == message_id
    assert parsed["Date"] is not None
    assert parsed["Subject"] == "Olá"
    assert parsed.get_content() == "Conteúdo com acentuação.\n"


async def test_the_same_key_is_delivered_once(tmp_path: Path) -> None:
    mailer = MailboxMailer(tmp_path)
    ids = await asyncio.gather(*(mailer.send(_message(), idempotency_key="welcome-1") for _ in range(5)))
    later = await mailer.send(_message("Second subject"), idempotency_key="welcome-1")

    assert len(mailer.messages()) == 1
    assert len(set(ids)) == 1
    assert later == ids[0]
    assert read_message(mailer.messages()[0])["Subject"] == "Olá"


async def test_a_message_without_recipient_is_rejected(tmp_path: Path) -> None:
    message = _message()
    del message["To"]
    with pytest.raises(MailRejectedError):
        await MailboxMailer(tmp_path).send(message, idempotency_key="nobody")
    assert MailboxMailer(tmp_path).messages() == []


@pytest.mark.parametrize(
    ("locale", "subject", "greeting"),
    [
        ("pt-BR", "Boas-vindas ao Mr Bill, Acme Ltda!", "Olá, Ana Souza,"),
        ("pt_BR", "Boas-vindas ao Mr Bill, Acme Ltda!", "Olá, Ana Souza,"),
        ("en", "Welcome to Mr Bill, Acme Ltda!", "Hello Ana Souza,"),
        ("en-US", "Welcome to Mr Bill, Acme Ltda!", "Hello Ana Souza,"),
    ],
)
def test_the_welcome_email_speaks_the_tenant_locale(locale: str, subject: str, greeting: str) -> None:
    request = WelcomeEmail(
        tenant_id="t1",
        user_id="u1",
        tenant_name="Acme Ltda",
        slug="acme",
        email="ana@acme.example",
        full_name="Ana Souza",
        locale=locale,
    )
    message = compose_welcome_email(
        request, mail_from="Mr Bill <no-reply@mrbill.local>", login_url="http://e/"
    )

    assert message["Subject"] == subject
    assert message["Content-Language"] == ("en" if locale.startswith("en") else "pt-BR")
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None
    assert html is not None
    assert plain.get_content().startswith(greeting)
    assert '"acme"' in plain.get_content()
    assert "&quot;Acme Ltda&quot;" in html.get_content()
