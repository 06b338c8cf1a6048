"""searchDojos (the seed's SearchService.searchDojos), with no HTTP in it.

As for POCs, tenant and visibility never come from the client: the tenant is the token's and the
viewer is the caller, and the engine returns only public dojos, the caller's own, and those the
caller takes part in. Without a status asked for, the search answers the seed's "Find active and
upcoming dojos": ACTIVE and SCHEDULED ones, active first, then by scheduled start.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.common.auth import TokenClaims
from api.common.errors import BadRequestError, FieldError
from api.common.i18n import N_
from api.common.pagination import PageParams
from api.search.dojo_engine import DojoQuery, DojoSearchEngine, DojoSearchResult, DojoSort
from api.search.service import (
    MAX_QUERY_LENGTH,
    MAX_RESULT_WINDOW,
    _clean_values,
    _field_error,
    _parse_instant,
)
from workflows.dojo_indexing_types import DOJO_STATUSES

DEFAULT_STATUSES: tuple[str, ...] = ("ACTIVE", "SCHEDULED")
"""The seed's listing: active and upcoming dojos."""


@dataclass(frozen=True, slots=True)
class DojoSearchCriteria:
    """What the client asked for, before the service scopes it to the caller."""

    text: str | None = None
    languages: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    """Empty: `DEFAULT_STATUSES`."""
    scheduled_from: str | None = None
    scheduled_to: str | None = None
    sort: DojoSort = "upcoming"


class DojoSearchService:
    def __init__(self, engine: DojoSearchEngine) -> None:
        self.engine = engine

    def scoped_query(
        self, claims: TokenClaims, criteria: DojoSearchCriteria, paging: PageParams
    ) -> DojoQuery:
        """The engine query for `criteria`, always within the caller's tenant and visibility."""
        errors: list[FieldError] = []
        text = (criteria.text or "").strip() or None
        if text is not None and len(text) > MAX_QUERY_LENGTH:
            errors.append(
                _field_error("q", N_("Must have at most {limit} characters."), limit=MAX_QUERY_LENGTH)
            )
        languages = _clean_values("language", criteria.languages, errors)
        statuses = tuple(dict.fromkeys(status.strip().upper() for status in criteria.statuses))
        for status in statuses:
            if status not in DOJO_STATUSES:
                errors.append(_field_error("status", N_("Invalid value {value}."), value=status))
        scheduled_from = _parse_instant("scheduledFrom", criteria.scheduled_from, errors, end=False)
        scheduled_to = _parse_instant("scheduledTo", criteria.scheduled_to, errors, end=True)
        if scheduled_from and scheduled_to and scheduled_from >= scheduled_to:
            errors.append(
                _field_error("scheduledTo", N_("Must not be before {other}."), other="scheduledFrom")
            )
        if paging.offset + paging.limit > MAX_RESULT_WINDOW:
            errors.append(
                _field_error(
                    "page", N_("Results beyond the first {limit} are not available."), limit=MAX_RESULT_WINDOW
                )
            )
        if errors:
            raise BadRequestError(N_("Some request parameters are invalid."), errors=errors)
        return DojoQuery(
            tenant_id=str(claims.tenant_id),
            viewer_id=str(claims.user_id),
            text=text,
            languages=languages,
            statuses=statuses or DEFAULT_STATUSES,
            scheduled_from=scheduled_from,
            scheduled_to=scheduled_to,
            sort=criteria.sort,
            offset=paging.offset,
            limit=paging.limit,
        )

    async def search_dojos(
        self, claims: TokenClaims, criteria: DojoSearchCriteria, paging: PageParams
    ) -> DojoSearchResult:
        return await self.engine.search(self.scoped_query(claims, criteria, paging))
