"""Side effects of the TenantOnboarding saga: identity rows, the tenant's storage prefix, mail;
the UserInvitation workflow's e-mail (with the token it draws); and identity's one read for
reports (who owns the report, for its cover).

The clients (Piccolo engine as the identity application role, blob storage, mailer) are
injected once per worker. Errors that retrying cannot fix become non-retryable
`ApplicationError`s whose type tells the workflow whether anything was written.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode
from uuid import UUID

from piccolo.engine.postgres import PostgresEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.mail import MailboxMailer, Mailer, MailRejectedError
from api.common.i18n import (
    DEFAULT_LOCALE,
    format_datetime,
    language_tag,
    normalize_locale,
    register_catalog_dir,
    translate,
)
from api.common.settings import Settings
from api.common.storage import BlobStorage, InvalidBlobKeyError, local_blob_storage
from api.identity import invitations, onboarding, repository
from api.identity.database import identity_database
from api.identity.invitations import InvitationLetter
from api.identity.piccolo_conf import configure
from workflows.report_generation_types import (
    OWNER_NOT_FOUND_ERROR,
    READ_OWNER_PROFILE_ACTIVITY,
    OwnerProfile,
    OwnerProfileRequest,
)
from workflows.tenant_onboarding_types import (
    NewOwner,
    NewTenant,
    TenantRef,
    TenantStoragePrefix,
    UserRef,
    WelcomeEmail,
    WelcomeEmailReceipt,
)
from workflows.user_invitation_types import (
    SEND_INVITATION_ACTIVITY,
    SENT,
    SKIPPED,
    InvitationDelivery,
    InvitationRequest,
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


INVITATION_TIME_ZONES: dict[str, str] = {"pt_BR": "America/Sao_Paulo", "en": "UTC"}
"""How an invitation's expiry is written: Brasília time for pt-BR readers, UTC (named) otherwise."""


def invitation_email_key(invitation_id: str) -> str:
    """One e-mail per invitation, however often its activity is retried."""
    return f"invitation-{invitation_id}"


def invitation_links(base_url: str, token: str) -> tuple[str, str]:
    """The page a person opens to accept, and the API endpoint that accepts the same token."""
    base = base_url.rstrip("/")
    return f"{base}/invitations/accept?{urlencode({'token': token})}", f"{base}/v1/invitations/accept"


def compose_invitation_email(
    letter: InvitationLetter, token: str, *, mail_from: str, base_url: str
) -> EmailMessage:
    """The invitation in the invited user's language: a link to open, and the code to paste."""
    locale = tenant_locale(letter.locale)
    accept_link, api_url = invitation_links(base_url, token)
    expires_at = format_datetime(
        letter.expires_at, locale, format="long", timezone=INVITATION_TIME_ZONES.get(locale, "UTC")
    )
    if letter.inviter_name:
        invited = translate(
            locale,
            '{inviter_name} invited you to join "{tenant_name}" on Mr Bill, '
            "where your team keeps track of its proofs of concept.",
            inviter_name=letter.inviter_name,
            tenant_name=letter.tenant_name,
        )
    else:
        invited = translate(
            locale,
            'You were invited to join "{tenant_name}" on Mr Bill, '
            "where your team keeps track of its proofs of concept.",
            tenant_name=letter.tenant_name,
        )
    open_link = translate(locale, "To accept, open this link and choose your password:")
    api_hint = translate(
        locale,
        "If the link does not open, accept through the Mr Bill API: send POST {api_url} with a JSON "
        'body holding "token" (the code below) and "password" (the password you choose, at least '
        "12 characters).",
        api_url=api_url,
    )
    code_label = translate(locale, "Your invitation code:")
    validity = translate(
        locale,
        "The invitation is valid until {expires_at} and works only once. Afterwards, sign in with "
        'your e-mail address {email} and the organisation code "{slug}".',
        expires_at=expires_at,
        email=letter.email,
        slug=letter.tenant_slug,
    )
    greeting = translate(locale, "Hello {full_name},", full_name=letter.full_name)
    ignore = translate(locale, "If you were not expecting this invitation, you can ignore this message.")
    signature = translate(locale, "The Mr Bill team")

    message = EmailMessage()
    message["Subject"] = translate(
        locale, 'You are invited to join "{tenant_name}" on Mr Bill', tenant_name=letter.tenant_name
    )
    message["From"] = mail_from
    message["To"] = letter.email
    message["X-MrBill-Tenant-Id"] = letter.tenant_id
    message["X-MrBill-Invitation-Id"] = letter.invitation_id
    text = [greeting, invited, f"{open_link}\n{accept_link}", api_hint, f"{code_label}\n{token}", validity]
    message.set_content("\n\n".join([*text, ignore, signature]) + "\n")
    escaped = html.escape
    html_body = "".join(
        [
            f"<p>{escaped(greeting)}</p>",
            f"<p>{escaped(invited)}</p>",
            f'<p>{escaped(open_link)}<br><a href="{escaped(accept_link)}">{escaped(accept_link)}</a></p>',
            f"<p>{escaped(api_hint)}</p>",
            f"<p>{escaped(code_label)}<br><code>{escaped(token)}</code></p>",
            f"<p>{escaped(validity)}</p>",
            f"<p>{escaped(ignore)}</p>",
            f"<p>{escaped(signature)}</p>",
        ]
    )
    lang = escaped(language_tag(locale))
    message.add_alternative(
        f'<!doctype html><html lang="{lang}"><body>{html_body}</body></html>', subtype="html"
    )
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
            self.send_user_invitation,
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

    @activity.defn(name=SEND_INVITATION_ACTIVITY)
    async def send_user_invitation(self, request: InvitationRequest) -> InvitationDelivery:
        """Draw the invitation's token, store its hash and e-mail it; SKIPPED once it is closed.

        A retry draws another token, since the earlier one is gone with the earlier attempt;
        both hashes stay valid, because the mailer delivers only the first e-mail of the
        invitation and nothing tells which attempt's e-mail that was.
        """
        token, token_hash = invitations.new_invitation_token()
        try:
            letter = await invitations.issue_token(
                self.engine,
                tenant_id=request.tenant_id,
                invitation_id=request.invitation_id,
                token_hash=token_hash,
                now=datetime.now(UTC),
            )
        except ValueError as exc:  # ids that are not UUIDs: no attempt can do better
            raise _fail_without_retry(exc, "InvalidInput") from exc
        if isinstance(letter, str):
            activity.logger.info("invitation %s not sent: %s", request.invitation_id, letter)
            return InvitationDelivery(status=SKIPPED, reason=letter)
        message = compose_invitation_email(letter, token, mail_from=self.mail_from, base_url=self.login_url)
        try:
            message_id = await self.mailer.send(
                message, idempotency_key=invitation_email_key(request.invitation_id)
            )
        except MailRejectedError as exc:
            raise _fail_without_retry(exc, "MailRejected") from exc
        return InvitationDelivery(status=SENT, message_id=message_id)


class IdentityProfileActivities:
    """Identity's read for the report workflow, served by the content worker.

    It reads through identity's own repository, on the process's shared identity engine (the
    application role, so row-level security scopes the read to the report's tenant).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stack: AsyncExitStack | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(settings)

    async def __aenter__(self) -> Self:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(identity_database(self.settings))
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.read_report_owner_profile]

    @activity.defn(name=READ_OWNER_PROFILE_ACTIVITY)
    async def read_report_owner_profile(self, request: OwnerProfileRequest) -> OwnerProfile:
        """The owner's display name and email; ``OwnerNotFound`` when the user is not in the tenant."""
        try:
            tenant_id, user_id = UUID(request.tenant_id), UUID(request.user_id)
        except ValueError as exc:
            raise ApplicationError(
                f"not a user reference: {request.tenant_id!r}/{request.user_id!r}",
                type=OWNER_NOT_FOUND_ERROR,
                non_retryable=True,
            ) from exc
        if self._stack is not None:
            user = await repository.read_user_in_tenant(tenant_id, user_id)
        else:  # a worker built without opening its providers: open the shared engine for this read
            async with identity_database(self.settings):
                user = await repository.read_user_in_tenant(tenant_id, user_id)
        if user is None:
            raise ApplicationError(
                f"user {request.user_id} is not in tenant {request.tenant_id}",
                type=OWNER_NOT_FOUND_ERROR,
                non_retryable=True,
            )
        return OwnerProfile(display_name=user.full_name, email=user.email, locale=user.locale)
