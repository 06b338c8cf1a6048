"""The catalog's business rules (the seed's POCService, TagService and FrameworkService).

Who sees what: a private POC exists only for its owner; a public one for the whole tenant.
Who changes what: the owner, or an OWNER/ADMIN of the tenant, of a POC they can see. Every
write bumps the POC's version and asks, through the unit of work, for the POC to be
indexed once the transaction has committed. Nothing here knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import msgspec

from api.catalog import repository
from api.catalog.errors import (
    PocEditForbiddenError,
    PocNotFoundError,
    TagNotFoundError,
    ThumbnailNotFoundError,
)
from api.catalog.labels import (
    MAX_LABEL_LENGTH,
    InvalidLabelError,
    Label,
    label_key,
    parse_label,
    unique_labels,
)
from api.catalog.languages import KNOWN_LANGUAGES, canonical_language
from api.catalog.repository import LabelCount, LabelKind, NewPoc, PocQuery, PocRecord
from api.catalog.thumbnails import Thumbnail, thumbnail_key
from api.catalog.unit_of_work import AfterCommit, UnitOfWork
from api.common.errors import BadRequestError, FieldError, ValidationProblem
from api.common.i18n import N_
from api.common.pagination import PageParams
from api.common.storage import BlobStorage

MAX_NAME_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 5000
MAX_URL_LENGTH = 255
MAX_TAGS = 20
MAX_FRAMEWORKS = 20
MAX_LABELS_SENT = 200
"""A list longer than this is refused before its items are even looked at."""
MANAGER_ROLES = frozenset({"OWNER", "ADMIN"})


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: UUID
    tenant_id: UUID
    roles: tuple[str, ...] = ()

    @property
    def is_manager(self) -> bool:
        return "SUPERADMIN" in self.roles or bool(MANAGER_ROLES.intersection(self.roles))


@dataclass(frozen=True, slots=True)
class PocDraft:
    """A new POC as the client sent it; `PocService.create` checks and normalises it."""

    name: str
    repository_url: str
    description: str | None = None
    language: str | None = None
    is_public: bool = False
    tags: Sequence[str] = ()
    frameworks: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class PocChanges:
    """A partial update: fields left `msgspec.UNSET` stay as they are; lists replace the old ones."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    repository_url: str | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType | None = msgspec.UNSET
    language: str | msgspec.UnsetType | None = msgspec.UNSET
    is_public: bool | msgspec.UnsetType = msgspec.UNSET
    tags: Sequence[str] | msgspec.UnsetType = msgspec.UNSET
    frameworks: Sequence[str] | msgspec.UnsetType = msgspec.UNSET


@dataclass(frozen=True, slots=True)
class PocFilters:
    owner: str | None = None
    """``me`` or a user id."""
    visibility: str | None = None
    """``public``: the tenant's public POCs only."""
    is_public: bool | None = None
    language: str | None = None
    tags: Sequence[str] = ()
    frameworks: Sequence[str] = ()
    created_from: datetime | None = None
    created_to: datetime | None = None
    deleted: bool = False


# -- validation ---------------------------------------------------------------------------------


class _Errors:
    def __init__(self) -> None:
        self.items: list[FieldError] = []
        self.extra: dict[str, object] = {}

    def add(self, field: str, message: str, **params: Any) -> None:
        error: FieldError = {"field": field, "message": message}
        if params:
            error["params"] = params
        self.items.append(error)

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationProblem(errors=self.items, extra=self.extra)


def _clean_name(value: str, errors: _Errors) -> str:
    name = " ".join(value.split())
    if not name:
        errors.add("name", N_("Must not be empty."))
    elif len(name) > MAX_NAME_LENGTH:
        errors.add("name", N_("Must have at most {limit} characters."), limit=MAX_NAME_LENGTH)
    return name


def _clean_description(value: str | None, errors: _Errors) -> str | None:
    if value is None or not value.strip():
        return None
    description = value.strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        errors.add("description", N_("Must have at most {limit} characters."), limit=MAX_DESCRIPTION_LENGTH)
    return description


def repository_url_error(url: str) -> str | None:
    """A msgid saying what is wrong with `url`, or None for an http(s) URL with a host."""
    if not url:
        return N_("Must not be empty.")
    if len(url) > MAX_URL_LENGTH:
        return N_("Must have at most {limit} characters.")
    if any(char.isspace() or ord(char) < 32 for char in url):
        return N_("Must be a URL without spaces.")
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        parts.port  # noqa: B018 - parsing the port validates it
    except ValueError:
        return N_("Must be a valid http or https URL.")
    if parts.scheme.lower() not in ("http", "https"):
        return N_("Must be a valid http or https URL.")
    if not hostname:
        return N_("Must be a valid http or https URL.")
    if parts.username is not None or parts.password is not None:
        return N_("Must not contain a user name or password.")
    return None


def _clean_url(value: str, errors: _Errors) -> str:
    url = value.strip()
    if message := repository_url_error(url):
        errors.add("repositoryUrl", message, limit=MAX_URL_LENGTH)
    return url


def _clean_language(value: str | None, errors: _Errors) -> str | None:
    if value is None or not value.strip():
        return None
    language = canonical_language(value)
    if language is None:
        errors.add(
            "language",
            N_('Unknown language "{value}". Use one of: {allowed}.'),
            value=value.strip()[:60],
            allowed=", ".join(KNOWN_LANGUAGES),
        )
        errors.extra["allowedLanguages"] = list(KNOWN_LANGUAGES)
    return language


def _clean_labels(values: Sequence[str], field: str, limit: int, errors: _Errors) -> tuple[Label, ...]:
    if len(values) > MAX_LABELS_SENT:
        errors.add(field, N_("Must have at most {limit} items."), limit=limit)
        return ()
    labels: list[Label] = []
    for index, value in enumerate(values):
        try:
            labels.append(parse_label(value))
        except InvalidLabelError as exc:
            errors.add(f"{field}[{index}]", exc.reason, limit=MAX_LABEL_LENGTH)
    unique = unique_labels(labels)
    if len(unique) > limit:
        errors.add(field, N_("Must have at most {limit} items."), limit=limit)
    return tuple(unique)


def parse_label_or_raise(value: str, field: str) -> Label:
    try:
        return parse_label(value)
    except InvalidLabelError as exc:
        raise ValidationProblem(
            errors=[{"field": field, "message": exc.reason, "params": {"limit": MAX_LABEL_LENGTH}}]
        ) from exc


def language_filter(value: str | None) -> str | None:
    """A language query parameter: aliases accepted, anything unknown is a 400 listing the known ones."""
    if value is None or not value.strip():
        return None
    language = canonical_language(value)
    if language is None:
        raise BadRequestError(
            N_("Some request parameters are invalid."),
            errors=[
                {
                    "field": "language",
                    "message": N_('Unknown language "{value}". Use one of: {allowed}.'),
                    "params": {"value": value.strip()[:60], "allowed": ", ".join(KNOWN_LANGUAGES)},
                }
            ],
            extra={"allowedLanguages": list(KNOWN_LANGUAGES)},
        )
    return language


# -- POCs ---------------------------------------------------------------------------------------


def can_see(actor: Actor, poc: PocRecord) -> bool:
    return poc.tenant_id == actor.tenant_id and (poc.user_id == actor.user_id or poc.is_public)


def can_edit(actor: Actor, poc: PocRecord) -> bool:
    return can_see(actor, poc) and (poc.user_id == actor.user_id or actor.is_manager)


async def _visible_poc(work: UnitOfWork, actor: Actor, poc_id: UUID) -> PocRecord:
    poc = await repository.fetch_poc(work.connection, poc_id)
    if poc is None or poc.is_deleted or not can_see(actor, poc):
        raise PocNotFoundError()
    return poc


async def _editable_poc(
    work: UnitOfWork, actor: Actor, poc_id: UUID, *, include_deleted: bool = False
) -> PocRecord:
    """The POC, locked until the transaction ends, when the actor may change it."""
    poc = await repository.fetch_poc(work.connection, poc_id, lock=True)
    if poc is None or (poc.is_deleted and not include_deleted) or not can_see(actor, poc):
        raise PocNotFoundError()
    if not can_edit(actor, poc):
        raise PocEditForbiddenError()
    return poc


async def _reload(work: UnitOfWork, poc_id: UUID) -> PocRecord:
    poc = await repository.fetch_poc(work.connection, poc_id)
    if poc is None:
        raise PocNotFoundError()
    return poc


class PocService:
    def __init__(self, storage: BlobStorage) -> None:
        self._storage = storage

    async def create(self, work: UnitOfWork, actor: Actor, draft: PocDraft) -> PocRecord:
        errors = _Errors()
        new_poc = NewPoc(
            tenant_id=actor.tenant_id,
            user_id=actor.user_id,
            name=_clean_name(draft.name, errors),
            repository_url=_clean_url(draft.repository_url, errors),
            description=_clean_description(draft.description, errors),
            language=_clean_language(draft.language, errors),
            is_public=draft.is_public,
            tags=_clean_labels(draft.tags, "tags", MAX_TAGS, errors),
            frameworks=_clean_labels(draft.frameworks, "frameworks", MAX_FRAMEWORKS, errors),
        )
        errors.raise_if_any()
        poc = await repository.insert_poc(work.connection, new_poc)
        work.index_after_commit(poc.poc_id, poc.version)
        return poc

    async def get(self, work: UnitOfWork, actor: Actor, poc_id: UUID) -> PocRecord:
        return await _visible_poc(work, actor, poc_id)

    async def update(self, work: UnitOfWork, actor: Actor, poc_id: UUID, changes: PocChanges) -> PocRecord:
        errors = _Errors()
        columns: dict[str, Any] = {}
        if not isinstance(changes.name, msgspec.UnsetType):
            columns["name"] = _clean_name(changes.name, errors)
        if not isinstance(changes.repository_url, msgspec.UnsetType):
            columns["repository_url"] = _clean_url(changes.repository_url, errors)
        if not isinstance(changes.description, msgspec.UnsetType):
            columns["description"] = _clean_description(changes.description, errors)
        if not isinstance(changes.language, msgspec.UnsetType):
            columns["language"] = _clean_language(changes.language, errors)
        if not isinstance(changes.is_public, msgspec.UnsetType):
            columns["is_public"] = changes.is_public
        tags = frameworks = None
        if not isinstance(changes.tags, msgspec.UnsetType):
            tags = _clean_labels(changes.tags, "tags", MAX_TAGS, errors)
        if not isinstance(changes.frameworks, msgspec.UnsetType):
            frameworks = _clean_labels(changes.frameworks, "frameworks", MAX_FRAMEWORKS, errors)
        errors.raise_if_any()
        poc = await _editable_poc(work, actor, poc_id)
        if not columns and tags is None and frameworks is None:
            return poc
        if tags is not None:
            await repository.replace_labels(work.connection, "tag", poc.tenant_id, poc.poc_id, tags)
        if frameworks is not None:
            await repository.replace_labels(
                work.connection, "framework", poc.tenant_id, poc.poc_id, frameworks
            )
        version = await repository.update_poc(work.connection, poc.poc_id, columns)
        work.index_after_commit(poc.poc_id, version)
        return await _reload(work, poc.poc_id)

    async def delete(self, work: UnitOfWork, actor: Actor, poc_id: UUID) -> None:
        """Soft delete: the POC leaves every list and search, and its owner can restore it."""
        poc = await _editable_poc(work, actor, poc_id)
        version = await repository.update_poc(work.connection, poc.poc_id, {"deleted_at": datetime.now(UTC)})
        work.index_after_commit(poc.poc_id, version)

    async def restore(self, work: UnitOfWork, actor: Actor, poc_id: UUID) -> PocRecord:
        """Bring back a soft-deleted POC; restoring a live one changes nothing."""
        poc = await _editable_poc(work, actor, poc_id, include_deleted=True)
        if not poc.is_deleted:
            return poc
        version = await repository.update_poc(work.connection, poc.poc_id, {"deleted_at": None})
        work.index_after_commit(poc.poc_id, version)
        return await _reload(work, poc.poc_id)

    async def list_pocs(
        self, work: UnitOfWork, actor: Actor, filters: PocFilters, paging: PageParams
    ) -> tuple[list[PocRecord], int]:
        query = PocQuery(
            tenant_id=actor.tenant_id,
            viewer_id=actor.user_id,
            owner_id=_owner_filter(filters.owner, actor),
            public_only=_public_only(filters.visibility),
            is_public=filters.is_public,
            language=language_filter(filters.language),
            tag_keys=_label_filter(filters.tags, "tag"),
            framework_keys=_label_filter(filters.frameworks, "framework"),
            created_from=filters.created_from,
            created_to=filters.created_to,
            deleted=filters.deleted,
            limit=paging.limit,
            offset=paging.offset,
        )
        if query.created_from and query.created_to and query.created_from > query.created_to:
            raise BadRequestError(
                N_("Some request parameters are invalid."),
                errors=[{"field": "createdTo", "message": N_("Must not be before createdFrom.")}],
            )
        return await repository.list_pocs(work.connection, query)

    async def put_thumbnail(
        self, work: UnitOfWork, actor: Actor, poc_id: UUID, thumbnail: Thumbnail
    ) -> PocRecord:
        poc = await _editable_poc(work, actor, poc_id)
        key = thumbnail_key(poc.tenant_id, poc.user_id, poc.poc_id, thumbnail.kind)
        await self._storage.put(key, thumbnail.data, content_type=thumbnail.kind.media_type)
        version = await repository.update_poc(work.connection, poc.poc_id, {"thumbnail_key": key})
        work.index_after_commit(poc.poc_id, version)
        previous = poc.thumbnail_key
        if previous and previous != key:
            work.after_commit(_deleter(self._storage, previous))
        return await _reload(work, poc.poc_id)

    async def delete_thumbnail(self, work: UnitOfWork, actor: Actor, poc_id: UUID) -> None:
        poc = await _editable_poc(work, actor, poc_id)
        if poc.thumbnail_key is None:
            raise ThumbnailNotFoundError()
        version = await repository.update_poc(work.connection, poc.poc_id, {"thumbnail_key": None})
        work.index_after_commit(poc.poc_id, version)
        work.after_commit(_deleter(self._storage, poc.thumbnail_key))


def _deleter(storage: BlobStorage, key: str) -> AfterCommit:
    async def delete_blob() -> None:
        await storage.delete(key)

    return delete_blob


def _owner_filter(owner: str | None, actor: Actor) -> UUID | None:
    if owner is None or not owner.strip():
        return None
    if owner.strip().lower() == "me":
        return actor.user_id
    try:
        return UUID(owner.strip())
    except ValueError:
        raise BadRequestError(
            N_("Some request parameters are invalid."),
            errors=[{"field": "owner", "message": N_('Must be "me" or a user id.')}],
        ) from None


def _public_only(visibility: str | None) -> bool:
    if visibility is None or visibility in ("all", ""):
        return False
    if visibility == "public":
        return True
    raise BadRequestError(
        N_("Some request parameters are invalid."),
        errors=[{"field": "visibility", "message": N_('Must be "public" or "all".')}],
    )


def _label_filter(values: Sequence[str], kind: LabelKind) -> tuple[str, ...]:
    field = "tag" if kind == "tag" else "framework"
    return tuple(dict.fromkeys(parse_label_or_raise(value, field).key for value in values if value.strip()))


# -- tags and frameworks -----------------------------------------------------------------------


MAX_SUGGESTIONS = 50
MAX_POPULAR = 100


def _prefix_key(prefix: str) -> str:
    key = label_key(prefix)
    if not key or len(key) > MAX_LABEL_LENGTH:
        raise BadRequestError(
            N_("Some request parameters are invalid."),
            errors=[
                {
                    "field": "prefix",
                    "message": N_("Must have between {low} and {high} characters."),
                    "params": {"low": 1, "high": MAX_LABEL_LENGTH},
                }
            ],
        )
    return key


class TagService:
    async def popular(self, work: UnitOfWork, actor: Actor, limit: int) -> list[LabelCount]:
        """The tenant's most used tags, counted over the POCs the caller can see."""
        return await repository.label_counts(
            work.connection, "tag", tenant_id=actor.tenant_id, viewer_id=actor.user_id, limit=limit
        )

    async def suggest(self, work: UnitOfWork, actor: Actor, prefix: str, limit: int) -> list[str]:
        counts = await repository.label_counts(
            work.connection,
            "tag",
            tenant_id=actor.tenant_id,
            viewer_id=actor.user_id,
            limit=limit,
            prefix=_prefix_key(prefix),
        )
        return [count.display for count in counts]

    async def tags_of(self, work: UnitOfWork, actor: Actor, poc_id: UUID) -> list[Label]:
        return list((await _visible_poc(work, actor, poc_id)).tags)

    async def add(self, work: UnitOfWork, actor: Actor, poc_id: UUID, tag: str) -> tuple[list[Label], bool]:
        """The POC's tags afterwards, and whether the tag was new to it."""
        label = parse_label_or_raise(tag, "tag")
        poc = await _editable_poc(work, actor, poc_id)
        if any(existing.key == label.key for existing in poc.tags):
            return list(poc.tags), False
        if len(poc.tags) >= MAX_TAGS:
            raise ValidationProblem(
                errors=[
                    {
                        "field": "tag",
                        "message": N_("A POC has at most {limit} tags."),
                        "params": {"limit": MAX_TAGS},
                    }
                ]
            )
        await repository.add_label(work.connection, "tag", poc.tenant_id, poc.poc_id, label)
        version = await repository.bump_version(work.connection, poc.poc_id)
        work.index_after_commit(poc.poc_id, version)
        return list((await _reload(work, poc.poc_id)).tags), True

    async def remove(self, work: UnitOfWork, actor: Actor, poc_id: UUID, tag: str) -> None:
        poc = await _editable_poc(work, actor, poc_id)
        key = label_key(tag)
        if not await repository.remove_label(work.connection, "tag", poc.poc_id, key):
            raise TagNotFoundError(tag.strip()[:MAX_LABEL_LENGTH])
        version = await repository.bump_version(work.connection, poc.poc_id)
        work.index_after_commit(poc.poc_id, version)


class FrameworkService:
    async def popular(
        self, work: UnitOfWork, actor: Actor, language: str | None, limit: int
    ) -> list[LabelCount]:
        """The most used frameworks, of one language when given (aliases accepted)."""
        return await repository.label_counts(
            work.connection,
            "framework",
            tenant_id=actor.tenant_id,
            viewer_id=actor.user_id,
            limit=limit,
            language=language_filter(language),
        )

    async def suggest(self, work: UnitOfWork, actor: Actor, prefix: str, limit: int) -> list[str]:
        counts = await repository.label_counts(
            work.connection,
            "framework",
            tenant_id=actor.tenant_id,
            viewer_id=actor.user_id,
            limit=limit,
            prefix=_prefix_key(prefix),
        )
        return [count.display for count in counts]

    async def frameworks_of(self, work: UnitOfWork, actor: Actor, poc_id: UUID) -> list[Label]:
        return list((await _visible_poc(work, actor, poc_id)).frameworks)
