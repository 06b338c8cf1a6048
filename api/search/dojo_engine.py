"""The port of the dojo read model, which each search engine serves beside its POCs (``engine.dojos``).

Queries arrive already scoped: `DojoQuery` always carries the caller's tenant and the caller as
the viewer, because the service fills them from the token. An engine applies the seed's
visibility rule itself (a public dojo, one the viewer created, or one the viewer takes part in)
and never returns a tombstone. Without another order asked for, dojos come as the seed's "Find
active and upcoming dojos" lists them: active ones first, then by scheduled start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from workflows.dojo_indexing_types import DojoDocument, DojoVersion

DojoSort = Literal["upcoming", "relevance", "newest"]
DojoStatus = Literal["SCHEDULED", "ACTIVE", "COMPLETED", "CANCELLED"]

STATUS_RANKS: dict[str, int] = {"ACTIVE": 0, "SCHEDULED": 1, "COMPLETED": 2, "CANCELLED": 3}
"""The "upcoming" order's first key: the seed sorts ACTIVE before the rest (the database's
``search_dojo_status_rank`` and the OpenSearch documents' ``status_rank`` say the same)."""
UNKNOWN_STATUS_RANK = 3


def status_rank(status: str) -> int:
    return STATUS_RANKS.get(status, UNKNOWN_STATUS_RANK)


@dataclass(frozen=True, slots=True)
class DojoQuery:
    tenant_id: str
    viewer_id: str
    text: str | None = None
    languages: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    """Empty: any status."""
    scheduled_from: datetime | None = None
    scheduled_to: datetime | None = None
    """Exclusive; a dojo without a scheduled start is outside any range."""
    sort: DojoSort = "upcoming"
    offset: int = 0
    limit: int = 20


@dataclass(frozen=True, slots=True)
class DojoHit:
    dojo_id: str
    creator_id: str
    name: str
    description: str | None
    language: str
    status: str
    is_private: bool
    scheduled_start_time: datetime | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    participant_count: int
    version: int
    score: float | None = None


@dataclass(frozen=True, slots=True)
class DojoSearchResult:
    hits: list[DojoHit]
    total: int


class DojoSearchEngine(Protocol):
    """One read model of dojos; every write is idempotent by dojo version."""

    async def ensure_indices(self) -> list[str]:
        """Create what is missing (idempotent); the names of what was created."""
        ...

    async def upsert(self, document: DojoDocument) -> bool:
        """Store `document` unless the same or a newer version is stored; True when it was stored.

        A document marked deleted is stored as a tombstone, without its text.
        """
        ...

    async def delete(self, tenant_id: str, dojo_id: str, version: int) -> bool:
        """Replace the dojo by a tombstone at `version`, so an older upsert arriving later loses."""
        ...

    async def search(self, query: DojoQuery) -> DojoSearchResult: ...

    async def versions(
        self,
        after: tuple[str, str] | None,
        through: tuple[str, str] | None,
        limit: int | None = None,
        *,
        tenant_ids: Sequence[str] = (),
    ) -> list[DojoVersion]:
        """Versions (tombstones too) with after < (tenant_id, dojo_id) <= through, in key order."""
        ...
