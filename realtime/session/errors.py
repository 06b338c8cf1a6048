"""What the session channel tells a person when it refuses something, in pt-BR or en.

Socket errors carry a stable ``code`` a client may act on and a ``message`` in the person's
language (the token's locale, else Accept-Language, else the default); REST errors are the
platform's problem+json.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.common.errors import ConflictError
from api.common.i18n import N_, translate


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str
    msgid: str

    def message(self, locale: str, **params: Any) -> str:
        return translate(locale, self.msgid, **params)


CHAT_EMPTY = Refusal("chat-empty", N_("A chat message cannot be empty."))
CHAT_TOO_LONG = Refusal("chat-too-long", N_("A chat message has at most {limit} characters."))
CHAT_RATE_LIMITED = Refusal(
    "chat-rate-limited",
    N_("You can send {limit} messages every {window} seconds; try again in {seconds} seconds."),
)
FACILITATOR_ONLY = Refusal(
    "facilitator-only", N_("Only the dojo's facilitator can start, pause, skip or reorder the randori.")
)
OBSERVER_CANNOT_RUN = Refusal("observer-read-only", N_("Observers can read and chat, but not run the code."))
DOJO_NOT_ACTIVE = Refusal("dojo-not-active", N_("The dojo is not running."))
RUN_BUSY = Refusal("run-busy", N_("{name} is already running the code; wait for the result."))
RUN_ALREADY_STARTED = Refusal("run-already-started", N_("This run has already started."))
RUN_UNAVAILABLE = Refusal(
    "run-unavailable", N_("Running code is unavailable right now; try again in a moment.")
)
RUN_LANGUAGE_UNAVAILABLE = Refusal("run-language-unavailable", N_("This language cannot be run here."))
RUN_TOO_LARGE = Refusal("run-too-large", N_("The program or its input is too large to run."))
RANDORI_ALREADY_STARTED = Refusal("randori-already-started", N_("The randori has already started."))
RANDORI_NOT_RUNNING = Refusal("randori-not-running", N_("The randori is not running."))
RANDORI_NOT_PAUSED = Refusal("randori-not-paused", N_("The randori is not paused."))
RANDORI_NO_PARTICIPANTS = Refusal(
    "randori-no-participants", N_("The randori needs at least one participant to drive.")
)
RANDORI_INVALID_ORDER = Refusal(
    "randori-invalid-order", N_("The order must list each of the dojo's participants at most once.")
)
INVALID_MESSAGE = Refusal("invalid-message", N_("The message could not be understood."))
TOO_FAST = Refusal("too-fast", N_("Too many messages; slow down."))
TOKEN_MISMATCH = Refusal("token-mismatch", N_("The new access token belongs to someone else."))
INTERNAL = Refusal("internal-error", N_("Something went wrong on our side; try again."))

BY_CODE: dict[str, Refusal] = {
    refusal.code: refusal
    for refusal in (
        CHAT_EMPTY,
        CHAT_TOO_LONG,
        CHAT_RATE_LIMITED,
        RUN_BUSY,
        RUN_ALREADY_STARTED,
        RUN_UNAVAILABLE,
        RUN_LANGUAGE_UNAVAILABLE,
        RUN_TOO_LARGE,
        RANDORI_ALREADY_STARTED,
        RANDORI_NOT_RUNNING,
        RANDORI_NOT_PAUSED,
        RANDORI_NO_PARTICIPANTS,
        RANDORI_INVALID_ORDER,
    )
}
"""The refusals services raise by code (`ChatRefused`, `RunRefused`, `RandoriError`)."""


# -- closing the socket --------------------------------------------------------------------------

DOJO_FINISHED = Refusal("dojo-not-running", N_("The dojo is not running."))
NO_SUCH_DOJO = Refusal("dojo-not-found", N_("No dojo with this id."))
FRAME_TOO_LARGE = Refusal("message-too-large", N_("A message has at most {limit} bytes."))
FLOODING = Refusal("too-fast", N_("Too many messages: the connection was closed."))
SLOW_CONSUMER = Refusal(
    "slow-consumer", N_("The connection could not keep up with the room and was closed; reconnect.")
)
SERVER_RESTART = Refusal("server-restart", N_("The server is restarting; reconnect."))
DOJO_ENDED = Refusal("dojo-ended", N_("The dojo has ended."))


class DojoNotFinishedError(ConflictError):
    code = "dojo-not-finished"
    title = N_("The dojo has not finished")
