"""Side effects of the TenantOnboarding saga: identity rows, the tenant's storage prefix, mail.

The clients (Piccolo engine as the identity application role, blob storage, mailer) are
injected once per worker. Errors that retrying cannot fix become non-retryable
`ApplicationError`s whose type tells the workflow whether anything was written.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from piccolo.engine.postgres import PostgresEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.mail import MailboxMailer, Mailer, MailRejectedError
from api.common.i18n import DEFAULT_LOCALE, language_tag, normalize_locale, register_catalog_dir, translate
from api.common.settings import Settings
from api.common.storage import BlobStorage, InvalidBlobKeyError, local_blob_storage
from api.identity import onboarding
from api.identity.piccolo_conf import configure
from workflows.tenant_onboarding_types import (
    NewOwner,
    NewTenant,
    TenantRef,
    TenantStoragePrefix,
    UserRef,
    WelcomeEmail,
    WelcomeEmailReceipt,
)

LOCALE_DIR = Path(__file__).parent / "locale"
"""The activities' own catalog (``messages`` domain), merged into the shared translations."""

register_catalog_dir(LOCALE_DIR)

DEFAULT_BRAND_COLORS: dict[str, str] = {
    "primary": "#1F6FEB",
    "secondary": "#F2A541",
    "background": "#FFFFFF",
    "text": "#1B1F24",
}


def tenant_locale(value: str | None) -> str:
    """A supported locale ("pt-BR" -> "pt_BR", "en-US" -> "en"); the platform default otherwise."""
    return normalize_locale(value) or DEFAULT_LOCALE


def branding_document(tenant_name: str, locale: str) -> bytes:
    """The tenant's default branding until an admin uploads a logo and picks colours."""
    document = {
        "name": tenant_name,
        "colors": DEFAULT_BRAND_COLORS,
        "logo": None,
        "locale": tenant_locale(locale),
    }
    return json.dumps(document, ensure_ascii=False, indent=2).encode()


def storage_prefix(tenant_id: str) -> str:
    return f"tenants/{tenant_id}/"


def branding_key(tenant_id: str) -> str:
    return f"{storage_prefix(tenant_id)}branding.json"


def welcome_email_key(tenant_id: str, user_id: str) -> str:
    return f"welcome-{tenant_id}-{user_id}"


def compose_welcome_email(request: WelcomeEmail, *, mail_from: str, login_url: str) -> EmailMessage:
    locale = tenant_locale(request.locale)
    paragraphs = [
        translate(locale, "Hello {full_name},", full_name=request.full_name),
        translate(
            locale,
            'Your organisation "{tenant_name}" is ready on Mr Bill, and you are its owner.',
            tenant_name=request.tenant_name,
        ),
        translate(
            locale,
            'Sign in at {login_url} with your email address and the organisation code "{slug}".',
            login_url=login_url,
            slug=request.slug,
        ),
        translate(
            locale,
            "Register your proofs of concept, find them again by name, language or tag, "
            "and get a recap of everything you built at the end of the year.",
        ),
        translate(locale, "If you did not sign up, you can ignore this message."),
        translate(locale, "The Mr Bill team"),
    ]
    message = EmailMessage()
    message["Subject"] = translate(
        locale, "Welcome to Mr Bill, {tenant_name}!", tenant_name=request.tenant_name
    )
    message["From"] = mail_from
    message["To"] = request.email
    message["X-MrBill-Tenant-Id"] = request.tenant_id
    message.set_content("\n\n".join(paragraphs) + "\n")
    html_body = "".join(f"<p>{html.escape(paragraph)}</p>" for paragraph in paragraphs)
    lang = html.escape(language_tag(locale))
    message.add_alternative(
        f'<!doctype html><html lang="{lang}"><body>{html_body}</body></html>', subtype="html"
    )
    # After the parts exist: making the message multipart moves Content-* headers into them.
    message["Content-Language"] = language_tag(locale)
    return message


def _fail_without_retry(exc: Exception, error_type: str) -> ApplicationError:
    return ApplicationError(str(exc), type=error_type, non_retryable=True)


class IdentityActivities:
    """The onboarding saga's activities, sharing one engine, one store and one mailer."""

    def __init__(
        self,
        engine: PostgresEngine,
        storage: BlobStorage,
        mailer: Mailer,
        *,
        mail_from: str,
        login_url: str,
        pool_min: int = 1,
        pool_max: int = 5,
    ) -> None:
        self.engine = engine
        self.storage = storage
        self.mailer = mailer
        self.mail_from = mail_from
        self.login_url = login_url
        self._pool_size = (pool_min, pool_max)

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            configure(settings, as_owner=False),
            local_blob_storage(settings),
            MailboxMailer(settings.mailbox_dir),
            mail_from=settings.mail_from,
            login_url=f"http://{settings.edge_host}:{settings.edge_port}/",
            pool_min=settings.db_pool_min,
            pool_max=settings.db_pool_max,
        )

    async def __aenter__(self) -> Self:
        await self.engine.start_connection_pool(min_size=self._pool_size[0], max_size=self._pool_size[1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.engine.close_connection_pool()

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [
            self.create_tenant,
            self.delete_tenant,
            self.create_owner_user,
            self.delete_user,
            self.create_storage_prefix,
            self.delete_storage_prefix,
            self.send_welcome_email,
            self.activate_tenant,
        ]

    @activity.defn(name="create_tenant")
    async def create_tenant(self, request: NewTenant) -> None:
        try:
            created = await onboarding.create_pending_tenant(
                self.engine,
                tenant_id=request.tenant_id,
                name=request.name,
                slug=request.slug,
                domain=request.domain,
                plan=request.plan,
                default_locale=tenant_locale(request.default_locale),
            )
        except onboarding.OnboardingInputError as exc:
            raise _fail_without_retry(exc, exc.error_type) from exc
        activity.logger.info("tenant %s %s", request.slug, "created" if created else "already existed")

    @activity.defn(name="delete_tenant")
    async def delete_tenant(self, request: TenantRef) -> None:
        deleted = await onboarding.delete_tenant(self.engine, request.tenant_id)
        activity.logger.info("tenant %s %s", request.tenant_id, "deleted" if deleted else "was already gone")

    @activity.defn(name="create_owner_user")
    async def create_owner_user(self, request: NewOwner) -> None:
        try:
            await onboarding.create_owner(
                self.engine,
                tenant_id=request.tenant_id,
                user_id=request.user_id,
                email=request.email,
                password_hash=request.password_hash,
                full_name=request.full_name,
                locale=tenant_locale(request.locale),
            )
        except onboarding.OnboardingInputError as exc:
            raise _fail_without_retry(exc, exc.error_type) from exc
        except onboarding.TenantNotFoundError as exc:
            raise _fail_without_retry(exc, "TenantNotFound") from exc

    @activity.defn(name="delete_user")
    async def delete_user(self, request: UserRef) -> None:
        await onboarding.delete_user(self.engine, request.tenant_id, request.user_id)

    @activity.defn(name="create_storage_prefix")
    async def create_storage_prefix(self, request: TenantStoragePrefix) -> None:
        try:
            await self.storage.put(
                branding_key(request.tenant_id),
                branding_document(request.tenant_name, request.locale),
                content_type="application/json",
            )
        except (InvalidBlobKeyError, PermissionError) as exc:
            raise _fail_without_retry(exc, "StorageRejected") from exc

    @activity.defn(name="delete_storage_prefix")
    async def delete_storage_prefix(self, request: TenantStoragePrefix) -> None:
        removed = await self.storage.delete_prefix(storage_prefix(request.tenant_id))
        activity.logger.info("removed %d objects of tenant %s", removed, request.tenant_id)

    @activity.defn(name="send_welcome_email")
    async def send_welcome_email(self, request: WelcomeEmail) -> WelcomeEmailReceipt:
        message = compose_welcome_email(request, mail_from=self.mail_from, login_url=self.login_url)
        try:
            message_id = await self.mailer.send(
                message, idempotency_key=welcome_email_key(request.tenant_id, request.user_id)
            )
        except MailRejectedError as exc:
            raise _fail_without_retry(exc, "MailRejected") from exc
        return WelcomeEmailReceipt(message_id=message_id)

    @activity.defn(name="activate_tenant")
    async def activate_tenant(self, request: TenantRef) -> None:
        try:
            await onboarding.activate_tenant(self.engine, request.tenant_id)
        except onboarding.TenantNotFoundError as exc:
            raise _fail_without_retry(exc, "TenantNotFound") from exc
