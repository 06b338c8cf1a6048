"""Outgoing email behind a small port: a mailbox folder in dev and tests, Amazon SES in production.

Activities are retried, so every send carries an idempotency key: a second send with the
same key delivers nothing new and answers with the first message's id.
"""

from __future__ import annotations

import asyncio
import email.policy
import os
import re
import secrets
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

MAIL_DOMAIN = "mrbill.local"


class MailRejectedError(Exception):
    """The message can never be delivered as it is (bad address, refused content): do not retry."""


class Mailer(Protocol):
    async def send(self, message: EmailMessage, *, idempotency_key: str) -> str:
        """Deliver `message` once per key; return its Message-ID."""
        ...


def _file_stem(idempotency_key: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", idempotency_key).strip("._")
    if not stem:
        raise ValueError("the idempotency key must contain letters or digits")
    return stem


class MailboxMailer:
    """Writes each message as an RFC 5322 ``.eml`` file named after its idempotency key.

    The file is written to a temporary name and linked into place, so a reader never sees
    half a message and two racing sends of one key leave exactly one file.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, idempotency_key: str) -> Path:
        return self.directory / f"{_file_stem(idempotency_key)}.eml"

    async def send(self, message: EmailMessage, *, idempotency_key: str) -> str:
        if not message["To"]:
            raise MailRejectedError("the message has no recipient")
        if message["Message-ID"] is None:
            message["Message-ID"] = make_msgid(domain=MAIL_DOMAIN)
        if message["Date"] is None:
            message["Date"] = formatdate(usegmt=True)
        return await asyncio.to_thread(self._deliver, message, self.path_for(idempotency_key))

    def _deliver(self, message: EmailMessage, path: Path) -> str:
        if path.exists():
            return _message_id(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        temporary.write_bytes(message.as_bytes(policy=email.policy.SMTP))
        try:
            os.link(temporary, path)
        except FileExistsError:
            return _message_id(path)
        finally:
            temporary.unlink(missing_ok=True)
        return str(message["Message-ID"])

    def messages(self) -> list[Path]:
        """Delivered messages, oldest first (for tests and the dev mailbox view)."""
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.eml"), key=lambda path: path.stat().st_mtime_ns)


def read_message(path: Path) -> EmailMessage:
    with path.open("rb") as file:
        return BytesParser(policy=email.policy.default).parse(file)


def _message_id(path: Path) -> str:
    return str(read_message(path)["Message-ID"])
