"""Request and response bodies of the catalog API: camelCase on the wire, as the seed names them.

Request bodies refuse unknown fields, so a misspelt ``ispublic`` is a clear 422 instead of a
change that silently never happens. Lengths, URL schemes, languages and tags are checked by
the service, which reports every invalid field at once, in the caller's language.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from api.catalog.labels import Label
from api.catalog.repository import LabelCount, PocRecord
from api.catalog.service import PocChanges, PocDraft
from api.common.schemas import CamelStruct

Name = Annotated[str, msgspec.Meta(description="1 to 100 characters.", examples=["Chat em tempo real"])]
Description = Annotated[str, msgspec.Meta(description="At most 5000 characters.")]
RepositoryUrl = Annotated[
    str,
    msgspec.Meta(description="An http or https URL.", examples=["https://github.com/maria/chat-realtime"]),
]
Language = Annotated[
    str,
    msgspec.Meta(
        description='A known language or an alias ("py", "golang", "c#"); see GET /v1/languages.',
        examples=["Python"],
    ),
]
LabelList = Annotated[
    list[str],
    msgspec.Meta(
        description="At most 20 items of at most 50 characters; case and accents do not make a new one."
    ),
]


class InputStruct(CamelStruct, forbid_unknown_fields=True):
    pass


class PocCreate(InputStruct):
    name: Name
    repository_url: RepositoryUrl
    description: Description | None = None
    language: Language | None = None
    is_public: bool = False
    tags: LabelList = msgspec.field(default_factory=list)
    frameworks: LabelList = msgspec.field(default_factory=list)

    def to_draft(self) -> PocDraft:
        return PocDraft(
            name=self.name,
            repository_url=self.repository_url,
            description=self.description,
            language=self.language,
            is_public=self.is_public,
            tags=tuple(self.tags),
            frameworks=tuple(self.frameworks),
        )


class PocUpdate(InputStruct):
    """Only the fields sent change; ``null`` clears description or language; lists replace."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    repository_url: RepositoryUrl | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    language: Language | msgspec.UnsetType | None = msgspec.UNSET
    is_public: bool | msgspec.UnsetType = msgspec.UNSET
    tags: LabelList | msgspec.UnsetType = msgspec.UNSET
    frameworks: LabelList | msgspec.UnsetType = msgspec.UNSET

    def to_changes(self) -> PocChanges:
        return PocChanges(
            name=self.name,
            repository_url=self.repository_url,
            description=self.description,
            language=self.language,
            is_public=self.is_public,
            tags=self.tags if isinstance(self.tags, msgspec.UnsetType) else tuple(self.tags),
            frameworks=self.frameworks
            if isinstance(self.frameworks, msgspec.UnsetType)
            else tuple(self.frameworks),
        )


class PocOut(CamelStruct):
    """The seed's POC, with its version and a signed, expiring thumbnail link."""

    poc_id: UUID
    user_id: UUID
    tenant_id: UUID
    name: str
    description: str | None
    repository_url: str
    language: str | None
    is_public: bool
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    thumbnail_url: str | None
    tags: list[str]
    frameworks: list[str]
    version: int

    @classmethod
    def from_record(cls, poc: PocRecord, sign_url: Callable[[str], str]) -> PocOut:
        return cls(
            poc_id=poc.poc_id,
            user_id=poc.user_id,
            tenant_id=poc.tenant_id,
            name=poc.name,
            description=poc.description,
            repository_url=poc.repository_url,
            language=poc.language,
            is_public=poc.is_public,
            created_at=poc.created_at,
            updated_at=poc.updated_at,
            deleted_at=poc.deleted_at,
            thumbnail_url=sign_url(poc.thumbnail_key) if poc.thumbnail_key else None,
            tags=display_forms(poc.tags),
            frameworks=display_forms(poc.frameworks),
            version=poc.version,
        )


def display_forms(labels: tuple[Label, ...] | list[Label]) -> list[str]:
    return [label.display for label in labels]


class TagAdd(InputStruct):
    tag: Annotated[str, msgspec.Meta(description="At most 50 characters.", examples=["programação"])]


class TagCountOut(CamelStruct):
    """The seed's TagCount."""

    tag: str
    count: int

    @classmethod
    def from_count(cls, count: LabelCount) -> TagCountOut:
        return cls(tag=count.display, count=count.count)


class FrameworkCountOut(CamelStruct):
    """The seed's FrameworkCount."""

    framework: str
    count: int

    @classmethod
    def from_count(cls, count: LabelCount) -> FrameworkCountOut:
        return cls(framework=count.display, count=count.count)


class LanguageOut(CamelStruct):
    name: str
    aliases: list[str]
