"""The catalog's HTTP surface. Handlers open the request's unit of work and call the service.

Ids of POCs the caller may not see answer 404, exactly like ids that do not exist: other
tenants' rows are invisible to row-level security, and private POCs of other users are
hidden by the service, so neither can be told apart from a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from litestar.types import ControllerRouterHandler

from api.catalog.deps import CatalogRuntime
from api.catalog.errors import FileLinkError, ImageTooLargeError
from api.catalog.guards import tenant_members
from api.catalog.languages import KNOWN_LANGUAGES, LANGUAGE_ALIASES
from api.catalog.schemas import (
    FrameworkCountOut,
    LanguageOut,
    PocCreate,
    PocOut,
    PocUpdate,
    TagAdd,
    TagCountOut,
    display_forms,
)
from api.catalog.service import MAX_POPULAR, MAX_SUGGESTIONS, Actor, PocFilters
from api.catalog.thumbnails import (
    FILES_PATH,
    MAX_THUMBNAIL_UPLOAD_BYTES,
    THUMBNAIL_URL_TTL_SECONDS,
    render_thumbnail,
    served_kind,
)
from api.common.errors import BadRequestError, NotFoundError
from api.common.files import SignedFilePolicy, serve_signed_file
from api.common.i18n import N_
from api.common.pagination import Page, PageParams

PUBLIC: dict[str, Any] = {"public": True}

Catalog = NamedDependency[CatalogRuntime]
CurrentActor = NamedDependency[Actor]
Paging = NamedDependency[PageParams]

Limit = Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_POPULAR, description="How many to return.")]
SuggestionLimit = Annotated[
    int, QueryParameter(name="limit", ge=1, le=MAX_SUGGESTIONS, description="How many to return.")
]
Prefix = Annotated[
    str, QueryParameter(name="prefix", min_length=1, max_length=50, description="What the user typed so far.")
]
LanguageParam = Annotated[
    str | None,
    QueryParameter(name="language", max_length=50, description="A language or an alias (py, golang)."),
]


@dataclass
class ImageUploadOperation(Operation):
    """The thumbnail route reads the raw body itself, so its OpenAPI body is declared here."""

    def __post_init__(self) -> None:
        binary = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
        self.request_body = RequestBody(
            content={
                media_type: OpenAPIMediaType(schema=binary)
                for media_type in ("image/png", "image/jpeg", "image/webp")
            },
            description="The image itself (at most 5 MB); its type is read from its first bytes.",
            required=True,
        )


class PocController(Controller):
    path = "/v1/pocs"
    tags = ["pocs"]  # noqa: RUF012 - Litestar's declared class attribute
    guards = [tenant_members]  # noqa: RUF012

    @post("/", operation_id="createPoc", status_code=HTTP_201_CREATED)
    async def create_poc(
        self, data: JSONBody[PocCreate], catalog: Catalog, actor: CurrentActor
    ) -> Response[PocOut]:
        """Register a POC (the seed's createPOC); it becomes searchable moments later."""
        async with catalog.work(actor.tenant_id) as work:
            poc = await catalog.pocs.create(work, actor, data.to_draft())
        return Response(
            PocOut.from_record(poc, catalog.sign_url),
            status_code=HTTP_201_CREATED,
            headers={"Location": f"/v1/pocs/{poc.poc_id}"},
        )

    @get("/", operation_id="listPocs")
    async def list_pocs(
        self,
        catalog: Catalog,
        actor: CurrentActor,
        paging: Paging,
        owner: Annotated[
            str | None, QueryParameter(name="owner", max_length=36, description='"me" or a user id.')
        ] = None,
        visibility: Annotated[
            str | None,
            QueryParameter(name="visibility", description='"public": only the tenant\'s public POCs.'),
        ] = None,
        is_public: Annotated[bool | None, QueryParameter(name="isPublic")] = None,
        language: LanguageParam = None,
        tag: Annotated[
            list[str] | None, QueryParameter(name="tag", description="Every tag given must match.")
        ] = None,
        framework: Annotated[
            list[str] | None,
            QueryParameter(name="framework", description="Every framework given must match."),
        ] = None,
        created_from: Annotated[datetime | None, QueryParameter(name="createdFrom")] = None,
        created_to: Annotated[datetime | None, QueryParameter(name="createdTo")] = None,
        deleted: Annotated[
            bool, QueryParameter(name="deleted", description="true: your soft-deleted POCs (the trash).")
        ] = False,
    ) -> Page[PocOut]:
        """POCs the caller can see, newest first.

        ``owner=me`` lists mine, ``visibility=public`` the tenant's public ones.
        """
        filters = PocFilters(
            owner=owner,
            visibility=visibility,
            is_public=is_public,
            language=language,
            tags=tuple(tag or ()),
            frameworks=tuple(framework or ()),
            created_from=created_from,
            created_to=created_to,
            deleted=deleted,
        )
        async with catalog.work(actor.tenant_id) as work:
            pocs, total = await catalog.pocs.list_pocs(work, actor, filters, paging)
        return Page.build([PocOut.from_record(poc, catalog.sign_url) for poc in pocs], total, paging)

    @get("/{poc_id:uuid}", operation_id="getPoc")
    async def get_poc(self, poc_id: FromPath[UUID], catalog: Catalog, actor: CurrentActor) -> PocOut:
        async with catalog.work(actor.tenant_id) as work:
            poc = await catalog.pocs.get(work, actor, poc_id)
        return PocOut.from_record(poc, catalog.sign_url)

    @patch("/{poc_id:uuid}", operation_id="updatePoc")
    async def update_poc(
        self, poc_id: FromPath[UUID], data: JSONBody[PocUpdate], catalog: Catalog, actor: CurrentActor
    ) -> PocOut:
        """Change the fields sent; tags and frameworks, when sent, replace the old lists."""
        async with catalog.work(actor.tenant_id) as work:
            poc = await catalog.pocs.update(work, actor, poc_id, data.to_changes())
        return PocOut.from_record(poc, catalog.sign_url)

    @delete("/{poc_id:uuid}", operation_id="deletePoc", status_code=HTTP_204_NO_CONTENT)
    async def delete_poc(self, poc_id: FromPath[UUID], catalog: Catalog, actor: CurrentActor) -> None:
        """Soft delete: gone from lists and search; ``POST .../restore`` brings it back."""
        async with catalog.work(actor.tenant_id) as work:
            await catalog.pocs.delete(work, actor, poc_id)

    @post("/{poc_id:uuid}/restore", operation_id="restorePoc", status_code=HTTP_200_OK)
    async def restore_poc(self, poc_id: FromPath[UUID], catalog: Catalog, actor: CurrentActor) -> PocOut:
        async with catalog.work(actor.tenant_id) as work:
            poc = await catalog.pocs.restore(work, actor, poc_id)
        return PocOut.from_record(poc, catalog.sign_url)

    @put(
        "/{poc_id:uuid}/thumbnail",
        operation_id="putPocThumbnail",
        status_code=HTTP_200_OK,
        request_max_body_size=None,
        operation_class=ImageUploadOperation,
    )
    async def put_thumbnail(
        self, poc_id: FromPath[UUID], request: Request[Any, Any, Any], catalog: Catalog, actor: CurrentActor
    ) -> PocOut:
        """Upload a PNG, JPEG or WebP picture; it is stored shrunk to at most 512 px a side."""
        image = await _read_upload(request, MAX_THUMBNAIL_UPLOAD_BYTES)
        thumbnail = await render_thumbnail(image)
        async with catalog.work(actor.tenant_id) as work:
            poc = await catalog.pocs.put_thumbnail(work, actor, poc_id, thumbnail)
        return PocOut.from_record(poc, catalog.sign_url)

    @delete("/{poc_id:uuid}/thumbnail", operation_id="deletePocThumbnail", status_code=HTTP_204_NO_CONTENT)
    async def delete_thumbnail(self, poc_id: FromPath[UUID], catalog: Catalog, actor: CurrentActor) -> None:
        async with catalog.work(actor.tenant_id) as work:
            await catalog.pocs.delete_thumbnail(work, actor, poc_id)

    @get("/{poc_id:uuid}/tags", operation_id="listPocTags")
    async def list_tags(self, poc_id: FromPath[UUID], catalog: Catalog, actor: CurrentActor) -> list[str]:
        """The seed's getTagsForPOC."""
        async with catalog.work(actor.tenant_id) as work:
            labels = await catalog.tags.tags_of(work, actor, poc_id)
        return display_forms(labels)

    @post("/{poc_id:uuid}/tags", operation_id="addPocTag", status_code=HTTP_201_CREATED)
    async def add_tag(
        self, poc_id: FromPath[UUID], data: JSONBody[TagAdd], catalog: Catalog, actor: CurrentActor
    ) -> Response[list[str]]:
        """The seed's addTagToPOC: 201 when the tag is new to the POC, 200 when it already had it."""
        async with catalog.work(actor.tenant_id) as work:
            labels, added = await catalog.tags.add(work, actor, poc_id, data.tag)
        return Response(display_forms(labels), status_code=HTTP_201_CREATED if added else HTTP_200_OK)

    @delete("/{poc_id:uuid}/tags/{tag:str}", operation_id="removePocTag", status_code=HTTP_204_NO_CONTENT)
    async def remove_tag(
        self, poc_id: FromPath[UUID], tag: FromPath[str], catalog: Catalog, actor: CurrentActor
    ) -> None:
        """The seed's removeTagFromPOC; any spelling of the tag ("Programacao") removes it."""
        async with catalog.work(actor.tenant_id) as work:
            await catalog.tags.remove(work, actor, poc_id, tag)

    @get("/{poc_id:uuid}/frameworks", operation_id="listPocFrameworks")
    async def list_frameworks(
        self, poc_id: FromPath[UUID], catalog: Catalog, actor: CurrentActor
    ) -> list[str]:
        """The seed's getFrameworksForPOC."""
        async with catalog.work(actor.tenant_id) as work:
            labels = await catalog.frameworks.frameworks_of(work, actor, poc_id)
        return display_forms(labels)


class TagController(Controller):
    path = "/v1/tags"
    tags = ["tags"]  # noqa: RUF012
    guards = [tenant_members]  # noqa: RUF012

    @get("/popular", operation_id="getPopularTags")
    async def popular(self, catalog: Catalog, actor: CurrentActor, limit: Limit = 20) -> list[TagCountOut]:
        """The seed's getPopularTags: the tenant's tags by use, over the POCs the caller can see."""
        async with catalog.work(actor.tenant_id) as work:
            counts = await catalog.tags.popular(work, actor, limit)
        return [TagCountOut.from_count(count) for count in counts]

    @get("/suggestions", operation_id="suggestTags")
    async def suggestions(
        self, catalog: Catalog, actor: CurrentActor, prefix: Prefix, limit: SuggestionLimit = 10
    ) -> list[str]:
        """The seed's suggestTags: tags starting with what was typed, most used first, accents ignored."""
        async with catalog.work(actor.tenant_id) as work:
            return await catalog.tags.suggest(work, actor, prefix, limit)


class FrameworkController(Controller):
    path = "/v1/frameworks"
    tags = ["frameworks"]  # noqa: RUF012
    guards = [tenant_members]  # noqa: RUF012

    @get("/popular", operation_id="getPopularFrameworks")
    async def popular(
        self, catalog: Catalog, actor: CurrentActor, language: LanguageParam = None, limit: Limit = 20
    ) -> list[FrameworkCountOut]:
        """The seed's getPopularFrameworks, of one language when given."""
        async with catalog.work(actor.tenant_id) as work:
            counts = await catalog.frameworks.popular(work, actor, language, limit)
        return [FrameworkCountOut.from_count(count) for count in counts]

    @get("/suggestions", operation_id="suggestFrameworks")
    async def suggestions(
        self, catalog: Catalog, actor: CurrentActor, prefix: Prefix, limit: SuggestionLimit = 10
    ) -> list[str]:
        """The seed's suggestFrameworks."""
        async with catalog.work(actor.tenant_id) as work:
            return await catalog.frameworks.suggest(work, actor, prefix, limit)


class LanguageController(Controller):
    path = "/v1/languages"
    tags = ["languages"]  # noqa: RUF012
    guards = [tenant_members]  # noqa: RUF012

    @get("/", operation_id="listLanguages", sync_to_thread=False)
    def list_languages(self) -> list[LanguageOut]:
        """The languages a POC may declare, and the aliases accepted for each."""
        aliases: dict[str, list[str]] = {name: [] for name in KNOWN_LANGUAGES}
        for spelling, name in LANGUAGE_ALIASES.items():
            if spelling != name.casefold():
                aliases[name].append(spelling)
        return [LanguageOut(name=name, aliases=sorted(aliases[name])) for name in KNOWN_LANGUAGES]


def _thumbnail_media_type(key: str) -> str | None:
    kind = served_kind(key)
    return None if kind is None else kind.media_type


CATALOG_FILES = SignedFilePolicy(
    media_type_of=_thumbnail_media_type,
    max_age_seconds=THUMBNAIL_URL_TTL_SECONDS,
    invalid_link=lambda expired: FileLinkError(expired=expired),
    missing_file=lambda: NotFoundError(N_("The file of this link no longer exists.")),
)


class FileController(Controller):
    """Signed links to the catalog's files in the local store (S3 serves presigned URLs itself)."""

    path = FILES_PATH
    tags = ["files"]  # noqa: RUF012

    @get("/{key:path}", operation_id="getFile", opt=PUBLIC, security=[{}])
    async def get_file(
        self,
        key: FromPath[str],
        catalog: Catalog,
        expires: Annotated[
            int, QueryParameter(name="expires", description="Unix time the link stops working.")
        ],
        signature: Annotated[str, QueryParameter(name="signature", max_length=128)],
    ) -> Response[bytes]:
        """A thumbnail behind a link from a POC's ``thumbnailUrl``; no token needed, the link is the key."""
        return await serve_signed_file(catalog.storage, CATALOG_FILES, key, expires, signature)


async def _read_upload(request: Request[Any, Any, Any], limit: int) -> bytes:
    """The raw body, refused as soon as it is known to be over `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ImageTooLargeError(limit)
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > limit:
            raise ImageTooLargeError(limit)
    if not received:
        raise BadRequestError(N_("Send the image as the request body."))
    return bytes(received)


ROUTE_HANDLERS: list[ControllerRouterHandler] = [
    PocController,
    TagController,
    FrameworkController,
    LanguageController,
    FileController,
]
