"""Access tokens of the dojo's sockets, checked as the HTTP middleware checks them.

Browsers cannot set headers on a WebSocket, so sockets send ``?access_token=`` (or a Bearer
header where the client can); their routes are public to the middleware and call this on open
(and the session channel again when a client refreshes its token). Every refusal is an
`AccessRefused` with the close code and a reason a client can act on, in the caller's language.
Sockets already open are kept authorised by `realtime.socket_watch.SocketWatch`, which closes them
with the very same refusals (`token_expired`, `token_revoked`).
"""

from __future__ import annotations

from pathlib import Path

import structlog

from api.common.auth import (
    AccessDenylist,
    KeySetProvider,
    TokenClaims,
    VerifiedTokenCache,
    verify_access_token,
)
from api.common.errors import AuthenticationError, ProblemError
from api.common.i18n import N_, normalize_locale, register_catalog_dir, translate
from api.common.settings import Settings
from realtime.ports import AccessRefused

logger = structlog.get_logger(__name__)

LOCALE_DIR = Path(__file__).parent / "dojos" / "locale"
"""Where these messages are translated (the dojo service's catalog)."""

CLOSE_UNAUTHENTICATED = 4401
CLOSE_TRY_AGAIN_LATER = 1013

TOKEN_EXPIRED = N_("The access token has expired.")
_MISSING = N_("Send the access token as ?access_token=... or a Bearer header.")
_REVOKED = N_("The access token has been revoked.")
_UNAVAILABLE = N_("Authentication is temporarily unavailable.")


class SocketAuthenticator:
    def __init__(self, settings: Settings, key_set: KeySetProvider, denylist: AccessDenylist | None) -> None:
        register_catalog_dir(LOCALE_DIR)
        self.settings = settings
        self.key_set = key_set
        self.denylist = denylist
        self._verified = VerifiedTokenCache()

    async def claims(self, token: str | None, locale: str) -> TokenClaims:
        """The token's claims, or `AccessRefused` (4401 missing, invalid, expired or revoked;
        1013 when identity's keys or the denylist cannot be read: nothing was decided)."""
        if not token:
            raise AccessRefused(CLOSE_UNAUTHENTICATED, "token-missing", translate(locale, _MISSING))
        try:
            claims = await verify_access_token(token, self.key_set, self.settings, cache=self._verified)
        except AuthenticationError as exc:
            reason = "token-expired" if exc.detail == TOKEN_EXPIRED else "token-invalid"
            raise AccessRefused(CLOSE_UNAUTHENTICATED, reason, exc.render_detail(locale) or reason) from exc
        except ProblemError as exc:
            raise _try_again_later(locale) from exc
        locale = normalize_locale(claims.locale) or locale  # the person's own language from here on
        if self.denylist is not None:
            try:
                revoked = await self.denylist.is_revoked(claims.jti)
            except Exception as exc:  # fail closed: a token we cannot check may be a logged-out one
                logger.warning("denylist unavailable", error=repr(exc))
                raise _try_again_later(locale) from exc
            if revoked:
                raise token_revoked(locale)
        return claims


def token_expired(locale: str) -> AccessRefused:
    """4401 ``token-expired``: what a socket is told when its token expires, at open or later."""
    return AccessRefused(CLOSE_UNAUTHENTICATED, "token-expired", translate(locale, TOKEN_EXPIRED))


def token_revoked(locale: str) -> AccessRefused:
    """4401 ``token-revoked``: the token's ``jti`` is on the denylist (logout, a revoked session)."""
    return AccessRefused(CLOSE_UNAUTHENTICATED, "token-revoked", translate(locale, _REVOKED))


def _try_again_later(locale: str) -> AccessRefused:
    return AccessRefused(CLOSE_TRY_AGAIN_LATER, "try-again-later", translate(locale, _UNAVAILABLE))
