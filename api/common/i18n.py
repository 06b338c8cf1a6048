"""Words a person reads, in pt-BR or en, from gettext catalogs compiled by Babel.

Every service shares the ``messages`` domain: the kernel's catalog lives in
``api/common/locale`` and a service adds its own folder with `register_catalog_dir`; entries of
a later folder win. Compiled ``.mo`` files are preferred, but a missing or stale one (a checkout
without ``make``) is compiled from its ``.po`` in memory, so text is never silently English.

Extract and update (msgids are marked with ``N_``, `translate` and `translate_plural`)::

    pybabel extract -F babel.cfg -k N_ -k translate:2 -k translate_plural:2,3 \
        -o api/common/locale/messages.pot api/common
    pybabel update -i api/common/locale/messages.pot -d api/common/locale -D messages
    pybabel compile -d api/common/locale -D messages
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import date, datetime, time, tzinfo
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any, Protocol

from babel import dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from litestar.types import ASGIApp, Message, Receive, Scope, Send

DOMAIN = "messages"
SUPPORTED_LOCALES: tuple[str, ...] = ("pt_BR", "en")
DEFAULT_LOCALE = "pt_BR"
COMMON_CATALOG_DIR = Path(__file__).parent / "locale"

_MAX_ACCEPT_LANGUAGE_LENGTH = 512
_MAX_ACCEPT_LANGUAGE_ENTRIES = 16

current_locale: ContextVar[str] = ContextVar("current_locale", default=DEFAULT_LOCALE)
"""The locale of the request being served; set by `LocaleMiddleware`, refined by authentication."""


def N_(msgid: str) -> str:
    """Mark a msgid for extraction where it is translated later (class attributes, constants)."""
    return msgid


class _FormatDefaults(dict[str, Any]):
    """Leaves an unknown ``{placeholder}`` as it is instead of failing a request over a typo."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _format(text: str, params: dict[str, Any]) -> str:
    return text.format_map(_FormatDefaults(params)) if params else text


class CatalogRegistry:
    """The catalog folders of one process and the merged translations of each locale."""

    def __init__(self, directories: Iterable[Path] = ()) -> None:
        self._directories: list[Path] = []
        self._cache: dict[str, NullTranslations] = {}
        self._lock = threading.Lock()
        for directory in directories:
            self.register(directory)

    @property
    def directories(self) -> tuple[Path, ...]:
        return tuple(self._directories)

    def register(self, directory: Path | str) -> None:
        path = Path(directory).resolve()
        with self._lock:
            if path not in self._directories:
                self._directories.append(path)
            self._cache.clear()

    def translations(self, locale: str) -> NullTranslations:
        cached = self._cache.get(locale)
        if cached is not None:
            return cached
        with self._lock:
            merged: NullTranslations = NullTranslations()
            for directory in self._directories:
                loaded = _load_catalog(directory, locale)
                if loaded is None:
                    continue
                if isinstance(merged, Translations):
                    merged.merge(loaded)
                else:
                    merged = loaded
            self._cache[locale] = merged
            return merged


def _load_catalog(directory: Path, locale: str) -> Translations | None:
    folder = directory / locale / "LC_MESSAGES"
    po_path, mo_path = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    mo_is_current = mo_path.is_file() and (
        not po_path.is_file() or mo_path.stat().st_mtime >= po_path.stat().st_mtime
    )
    if mo_is_current:
        with mo_path.open("rb") as mo_file:
            return Translations(fp=mo_file, domain=DOMAIN)
    if not po_path.is_file():
        return None
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=locale, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(fp=compiled, domain=DOMAIN)


_registry = CatalogRegistry([COMMON_CATALOG_DIR])


def register_catalog_dir(directory: Path | str) -> None:
    """Add a service's ``locale`` folder (same ``messages`` domain) to every translation."""
    _registry.register(directory)


def get_translations(locale: str) -> NullTranslations:
    return _registry.translations(normalize_locale(locale) or DEFAULT_LOCALE)


def translate(locale: str, msgid: str, **params: Any) -> str:
    """The msgid in `locale`, then formatted with `params` (``"{email}"`` placeholders)."""
    return _format(get_translations(locale).gettext(msgid), params)


def translate_plural(locale: str, singular: str, plural: str, count: int, **params: Any) -> str:
    """Plural-aware translation; ``{count}`` is available to the message."""
    text = get_translations(locale).ngettext(singular, plural, count)
    return _format(text, {"count": count, **params})


def gettext(msgid: str, **params: Any) -> str:
    """`translate` in the locale of the request being served."""
    return translate(current_locale.get(), msgid, **params)


# -- locale negotiation ---------------------------------------------------------------------


def normalize_locale(tag: str | None) -> str | None:
    """Map a BCP 47 tag or POSIX name (``pt``, ``pt-BR``, ``en-US``) to a supported locale."""
    if not tag:
        return None
    parts = tag.strip().replace("-", "_").split("_")
    language = parts[0].lower()
    region = parts[1].upper() if len(parts) > 1 and parts[1] else None
    if not language.isalpha():
        return None
    candidate = f"{language}_{region}" if region else language
    if candidate in SUPPORTED_LOCALES:
        return candidate
    return next((locale for locale in SUPPORTED_LOCALES if locale.split("_")[0] == language), None)


def parse_accept_language(header: str) -> list[str]:
    """Language tags of an Accept-Language header, most preferred first (q=0 dropped)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header[:_MAX_ACCEPT_LANGUAGE_LENGTH].split(",")):
        if index >= _MAX_ACCEPT_LANGUAGE_ENTRIES:
            break
        tag, _, raw_params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for raw_param in raw_params.split(";"):
            name, _, value = raw_param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        if 0.0 < quality <= 1.0:
            ranked.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate_locale(
    accept_language: str | None,
    user_locale: str | None = None,
    tenant_default: str | None = None,
    default: str = DEFAULT_LOCALE,
) -> str:
    """The user's profile wins, then the browser's preferences, then the tenant, then `default`."""
    if chosen := normalize_locale(user_locale):
        return chosen
    for tag in parse_accept_language(accept_language or ""):
        if chosen := normalize_locale(tag):
            return chosen
    if chosen := normalize_locale(tenant_default):
        return chosen
    return normalize_locale(default) or DEFAULT_LOCALE


def language_tag(locale: str) -> str:
    """The BCP 47 spelling for HTTP headers (``pt_BR`` -> ``pt-BR``)."""
    return locale.replace("_", "-")


class _HasHeadersAndScope(Protocol):
    @property
    def headers(self) -> Any: ...

    @property
    def scope(self) -> Any: ...

    @property
    def app(self) -> Any: ...


def request_locale(request: _HasHeadersAndScope) -> str:
    """The authenticated user's ``locale`` claim, else Accept-Language, else the configured default."""
    user_locale = getattr(request.scope.get("user"), "locale", None)
    settings = getattr(request.app.state, "settings", None)
    default = getattr(settings, "default_locale", DEFAULT_LOCALE)
    return negotiate_locale(request.headers.get("accept-language"), user_locale=user_locale, default=default)


class LocaleMiddleware:
    """Sets `current_locale` from Accept-Language for the request and announces the result.

    Authentication may refine the locale from the token's ``locale`` claim; the response's
    ``Content-Language`` reports whichever locale the request ended up in.
    """

    def __init__(self, app: ASGIApp, default_locale: str = DEFAULT_LOCALE) -> None:
        self.app = app
        self.default_locale = normalize_locale(default_locale) or DEFAULT_LOCALE

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        accept_language = next(
            (value.decode("latin-1") for key, value in scope.get("headers", ()) if key == b"accept-language"),
            None,
        )
        token = current_locale.set(negotiate_locale(accept_language, default=self.default_locale))

        async def send_with_language(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers.append((b"content-language", language_tag(current_locale.get()).encode("latin-1")))
                headers.append((b"vary", b"Accept-Language"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_language)
        finally:
            current_locale.reset(token)


# -- locale-aware formatting ----------------------------------------------------------------


def format_datetime(
    value: datetime, locale: str, *, format: str = "medium", timezone: tzinfo | str | None = None
) -> str:
    """A date and time as a person of `locale` writes it (naive datetimes are taken as UTC)."""
    zone = dates.get_timezone(timezone) if isinstance(timezone, str) else timezone
    return dates.format_datetime(value, format=format, tzinfo=zone, locale=locale)


def format_date(value: date, locale: str, *, format: str = "medium") -> str:
    return dates.format_date(value, format=format, locale=locale)


def format_time(value: time | datetime, locale: str, *, format: str = "short") -> str:
    return dates.format_time(value, format=format, locale=locale)


def format_number(value: int | float | Decimal, locale: str) -> str:
    """``1234.5`` is ``1.234,5`` in pt_BR and ``1,234.5`` in en."""
    return numbers.format_decimal(value, locale=locale)


def format_currency(value: int | float | Decimal, currency: str, locale: str) -> str:
    return numbers.format_currency(value, currency, locale=locale)
