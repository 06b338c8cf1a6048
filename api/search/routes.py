"""Search's HTTP surface: searchPOCs, autocomplete, and the index manager for administrators.

Handlers only translate HTTP into the services' terms; the services scope every query to the
caller's tenant and visibility.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED
from litestar.types import ControllerRouterHandler

from api.common.auth import requires_roles
from api.search.deps import INSTANT, Claims, Paging, Search, Values
from api.search.dojo_routes import DojoSearchController
from api.search.engine import MatchMode, SortOrder, SuggestionKind
from api.search.schemas import (
    AliasesOut,
    FacetCounts,
    IndexChanges,
    PocHit,
    PocSearchResults,
    ReindexAccepted,
    ReindexCreate,
    ReindexStatus,
    SearchIndexOut,
    SearchIndicesOut,
    Suggestions,
)
from api.search.service import INDEX_MANAGERS, SearchCriteria, total_pages

index_managers = requires_roles(*INDEX_MANAGERS)
superadmin_only = requires_roles("SUPERADMIN")


class SearchController(Controller):
    path = "/v1/search"
    tags = ["search"]  # noqa: RUF012 - Litestar's declared class attribute

    @get("/pocs", operation_id="searchPocs")
    async def search_pocs(
        self,
        search: Search,
        claims: Claims,
        paging: Paging,
        q: Annotated[
            str | None, QueryParameter(description="Free text over name, description and tags.")
        ] = None,
        language: Values = None,
        tags: Values = None,
        tags_mode: Annotated[MatchMode, QueryParameter(name="tagsMode")] = "all",
        frameworks: Values = None,
        frameworks_mode: Annotated[MatchMode, QueryParameter(name="frameworksMode")] = "all",
        owner: Annotated[str | None, QueryParameter(description='"me" or a user id.')] = None,
        is_public: Annotated[bool | None, QueryParameter(name="isPublic")] = None,
        created_from: Annotated[str | None, QueryParameter(name="from", description=INSTANT)] = None,
        created_to: Annotated[str | None, QueryParameter(name="to", description=INSTANT)] = None,
        sort: FromQuery[SortOrder] = "relevance",
    ) -> PocSearchResults:
        """Your POCs and your tenant's public ones, by text, filters and facets."""
        criteria = SearchCriteria(
            text=q,
            languages=tuple(language or ()),
            tags=tuple(tags or ()),
            tags_mode=tags_mode,
            frameworks=tuple(frameworks or ()),
            frameworks_mode=frameworks_mode,
            owner=owner,
            is_public=is_public,
            created_from=created_from,
            created_to=created_to,
            sort=sort,
        )
        result = await search.search.search_pocs(claims, criteria, paging)
        return PocSearchResults(
            items=[PocHit.from_hit(hit) for hit in result.hits],
            total_items=result.total,
            page=paging.page,
            page_size=paging.page_size,
            total_pages=total_pages(result.total, paging.page_size),
            facets=FacetCounts.from_facets(result.facets),
        )

    @get("/suggestions", operation_id="getSearchSuggestions")
    async def suggestions(
        self,
        search: Search,
        claims: Claims,
        prefix: Annotated[str, QueryParameter(description="What the user typed so far.")],
        kind: FromQuery[SuggestionKind] = "poc",
        limit: Annotated[int, QueryParameter(ge=1, le=20)] = 10,
    ) -> Suggestions:
        """Completions for POC names or tags the caller can see."""
        values = await search.search.suggestions(claims, prefix, kind, limit)
        return Suggestions(kind=kind, prefix=prefix, suggestions=values)


class SearchIndexController(Controller):
    path = "/v1/search"
    tags = ["search administration"]  # noqa: RUF012

    @get("/indices", operation_id="listSearchIndices", guards=[superadmin_only])
    async def list_indices(self, search: Search) -> SearchIndicesOut:
        descriptions = await search.engine.describe()
        return SearchIndicesOut(
            engine=search.engine.kind,
            indices=[SearchIndexOut.from_description(description) for description in descriptions],
        )

    @post("/indices", operation_id="createSearchIndices", guards=[superadmin_only], status_code=200)
    async def create_indices(self, search: Search) -> IndexChanges:
        """Create the indices and aliases that are missing (idempotent)."""
        return IndexChanges(engine=search.engine.kind, changed=await search.engine.ensure_indices())

    @put("/indices/mappings", operation_id="updateSearchMappings", guards=[superadmin_only])
    async def update_mappings(self, search: Search) -> IndexChanges:
        """Apply additive mapping changes in place; incompatible ones need a reindex."""
        return IndexChanges(engine=search.engine.kind, changed=await search.engine.update_mappings())

    @get("/aliases", operation_id="listSearchAliases", guards=[index_managers])
    async def list_aliases(self, search: Search, claims: Claims) -> AliasesOut:
        return AliasesOut(engine=search.engine.kind, aliases=await search.indices.aliases(claims))

    @post(
        "/reindex", operation_id="startSearchReindex", guards=[index_managers], status_code=HTTP_202_ACCEPTED
    )
    async def start_reindex(
        self, search: Search, claims: Claims, data: JSONBody[ReindexCreate | None] = None
    ) -> Response[ReindexAccepted]:
        """Rebuild the caller's tenant (or, for a SUPERADMIN, every tenant) without downtime."""
        request = data or ReindexCreate()
        started = await search.indices.start_reindex(claims, request.scope, request.tenant_id)
        return Response(
            ReindexAccepted(reindex_id=started.reindex_id, status="RUNNING", scope=started.scope),
            status_code=HTTP_202_ACCEPTED,
            headers={"Location": f"/v1/search/reindex/{started.reindex_id}"},
        )

    @get("/reindex/{reindex_id:str}", operation_id="getSearchReindex", guards=[index_managers])
    async def reindex_progress(
        self, search: Search, claims: Claims, reindex_id: FromPath[str]
    ) -> ReindexStatus:
        progress = await search.indices.reindex_progress(claims, reindex_id)
        return ReindexStatus.from_progress(reindex_id, progress)


ROUTE_HANDLERS: list[ControllerRouterHandler] = [
    SearchController,
    DojoSearchController,
    SearchIndexController,
]

__all__ = ["ROUTE_HANDLERS"]
