"""searchDojos over HTTP; the handler only translates HTTP into the service's terms."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import QueryParameter

from api.search.deps import INSTANT, Claims, Paging, Search, Values
from api.search.dojo_engine import DojoSort, DojoStatus
from api.search.dojo_schemas import DojoSearchHit, DojoSearchResults
from api.search.dojos import DojoSearchCriteria
from api.search.service import total_pages

Statuses = Annotated[
    list[DojoStatus] | None,
    QueryParameter(description="Repeat for several; ACTIVE and SCHEDULED when none is given."),
]


class DojoSearchController(Controller):
    path = "/v1/search"
    tags = ["search"]  # noqa: RUF012 - Litestar's declared class attribute

    @get("/dojos", operation_id="searchDojos")
    async def search_dojos(
        self,
        search: Search,
        claims: Claims,
        paging: Paging,
        q: Annotated[str | None, QueryParameter(description="Free text over name and description.")] = None,
        language: Values = None,
        status: Statuses = None,
        scheduled_from: Annotated[
            str | None, QueryParameter(name="scheduledFrom", description=INSTANT)
        ] = None,
        scheduled_to: Annotated[str | None, QueryParameter(name="scheduledTo", description=INSTANT)] = None,
        sort: Annotated[
            DojoSort,
            QueryParameter(description="upcoming: active first, then by scheduled start (the default)."),
        ] = "upcoming",
    ) -> DojoSearchResults:
        """Public dojos of your tenant, yours, and those you take part in."""
        criteria = DojoSearchCriteria(
            text=q,
            languages=tuple(language or ()),
            statuses=tuple(status or ()),
            scheduled_from=scheduled_from,
            scheduled_to=scheduled_to,
            sort=sort,
        )
        result = await search.dojos.search_dojos(claims, criteria, paging)
        return DojoSearchResults(
            items=[DojoSearchHit.from_hit(hit) for hit in result.hits],
            total_items=result.total,
            page=paging.page,
            page_size=paging.page_size,
            total_pages=total_pages(result.total, paging.page_size),
        )
