"""Why the server closes a live socket: a close code and a JSON reason a client can act on.

The reason is ``{"code": "...", "message": "..."}``: ``code`` is stable and meant for programs,
``message`` is for the person, in the socket's locale (the token's ``locale`` claim, else
Accept-Language). A close frame carries at most 123 bytes of reason, so the message is
shortened to fit; the code never is.

Codes in 4400-4499 mean "do not retry as is" (y-websocket stops reconnecting on them): 4401
get a new token, 4403/4404 no access, 4409 the dojo is not running, 4413 a message was too
large (``message-too-large``) or a change would grow the document past its cap
(``document-too-large``: undo it before reconnecting), 4429 too many messages. 1001 (server
going away), 1011 (internal error) and 1013 (try again later: overloaded, or the socket could
not keep up) are worth reconnecting after.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.common.i18n import N_, register_catalog_dir, translate
from realtime.ports import AccessRefused

MAX_CLOSE_REASON_BYTES = 123
CATALOG_DIR = Path(__file__).parent / "locale"

UNAUTHENTICATED = 4401
FORBIDDEN = 4403
NOT_FOUND = 4404
NOT_RUNNING = 4409
TOO_LARGE = 4413
TOO_MANY = 4429
GOING_AWAY = 1001
INVALID_DATA = 1007
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013

# The kernel's msgids (translated by its catalog), matched to tell an expiry from a revocation.


def register_catalog() -> None:
    """This package's words in pt-BR and en, beside the kernel's."""
    register_catalog_dir(CATALOG_DIR)


@dataclass(frozen=True)
class CloseReason:
    """A close the server decided on; `message` is a msgid rendered per socket, in its locale."""

    close_code: int
    code: str
    message: str
    params: tuple[tuple[str, Any], ...] = ()
    translated: bool = False
    """True when `message` is already words for a person (a refusal of the dojo records)."""

    def render(self, locale: str) -> str:
        text = self.message if self.translated else translate(locale, self.message, **dict(self.params))
        return close_reason_json(self.code, text)


def close_reason_json(code: str, message: str) -> str:
    """``{"code", "message"}`` within the close frame's 123 bytes, the message shortened if need be."""
    encoded = _dump(code, message)
    if len(encoded.encode()) <= MAX_CLOSE_REASON_BYTES:
        return encoded
    shortened = message
    while shortened:
        shortened = shortened[:-1]
        candidate = _dump(code, shortened.rstrip() + "…")
        if len(candidate.encode()) <= MAX_CLOSE_REASON_BYTES:
            return candidate
    return _dump(code[: MAX_CLOSE_REASON_BYTES - 30], "")


def _dump(code: str, message: str) -> str:
    return json.dumps({"code": code, "message": message}, ensure_ascii=False, separators=(",", ":"))


def refusal(error: AccessRefused) -> CloseReason:
    return CloseReason(error.code, error.reason, error.message, translated=True)


def unavailable() -> CloseReason:
    return CloseReason(
        TRY_AGAIN_LATER, "unavailable", N_("The live room is unavailable right now; try again shortly.")
    )


def too_large(limit: int) -> CloseReason:
    return CloseReason(
        TOO_LARGE,
        "message-too-large",
        N_("A message was larger than the limit of {limit} bytes."),
        (("limit", limit),),
    )


def document_too_large(limit: int) -> CloseReason:
    return CloseReason(
        TOO_LARGE,
        "document-too-large",
        N_("The code would grow past its limit of {limit} bytes; the change was not applied."),
        (("limit", limit),),
    )


def too_many() -> CloseReason:
    return CloseReason(TOO_MANY, "too-many-messages", N_("Too many messages; slow down before reconnecting."))


def slow_consumer() -> CloseReason:
    return CloseReason(
        TRY_AGAIN_LATER, "too-slow", N_("The connection could not keep up with the room; reconnect.")
    )


def invalid_message() -> CloseReason:
    return CloseReason(INVALID_DATA, "invalid-message", N_("A message did not follow the Yjs protocol."))


def going_away() -> CloseReason:
    return CloseReason(GOING_AWAY, "server-restarting", N_("The server is restarting; reconnect."))


def internal_error() -> CloseReason:
    return CloseReason(INTERNAL_ERROR, "internal-error", N_("Something went wrong on the server; reconnect."))


def room_closed(close_code: int, code: str) -> CloseReason:
    """The dojo's room was ended from the dojo records (the dojo ended or was cancelled)."""
    return CloseReason(close_code, code, N_("This dojo's live room was closed."))


OBSERVER_EDIT_REFUSED = N_("Observers cannot edit the code.")
