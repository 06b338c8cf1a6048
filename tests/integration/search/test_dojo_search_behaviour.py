"""searchDojos: the behaviour both engines must share, through DojoSearchService (which scopes every query).

Runs on the embedded engine always, as the application role (row-level security on), and on
OpenSearch whenever OPENSEARCH_URL is set (in a dojo index of the test's own).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from api.common.auth import TokenClaims
from api.common.errors import BadRequestError
from api.common.pagination import PageParams
from api.common.settings import Settings
from api.search.dojo_engine import DojoQuery, DojoSearchEngine, DojoSearchResult
from api.search.dojo_opensearch import OpenSearchDojoEngine
from api.search.dojo_postgres import PostgresDojoEngine
from api.search.dojos import DojoSearchCriteria, DojoSearchService
from api.search.engine import SearchEngine
from api.search.opensearch_engine import OpenSearchEngine
from api.search.text import query_words
from workflows.dojo_indexing_types import DojoDocument

pytestmark = [pytest.mark.integration]


def instant(text: str | None) -> str | None:
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC).isoformat()


@dataclass
class DojoCorpus:
    """Two tenants. In tenant A: alice and bob create dojos, dave takes part in bob's private one."""

    tenant_a: str = field(default_factory=lambda: str(uuid.uuid4()))
    tenant_b: str = field(default_factory=lambda: str(uuid.uuid4()))
    alice: str = field(default_factory=lambda: str(uuid.uuid4()))
    bob: str = field(default_factory=lambda: str(uuid.uuid4()))
    dave: str = field(default_factory=lambda: str(uuid.uuid4()))
    carol: str = field(default_factory=lambda: str(uuid.uuid4()))
    documents: dict[str, DojoDocument] = field(default_factory=dict)

    def add(
        self,
        key: str,
        *,
        tenant: str,
        creator: str,
        name: str,
        description: str,
        language: str,
        status: str,
        private: bool,
        scheduled: str | None,
        members: list[str] | None = None,
    ) -> None:
        started = "2029-10-01T10:00:00" if status in ("ACTIVE", "COMPLETED") else None
        ended = "2029-10-01T12:00:00" if status in ("COMPLETED", "CANCELLED") else None
        people = members if members is not None else [creator]
        self.documents[key] = DojoDocument(
            dojo_id=str(uuid.uuid4()),
            tenant_id=tenant,
            creator_id=creator,
            name=name,
            description=description,
            language=language,
            status=status,
            is_private=private,
            created_at=instant("2029-09-01T09:00:00") or "",
            version=1,
            scheduled_start_time=instant(scheduled),
            started_at=instant(started),
            ended_at=instant(ended),
            participant_count=len(people),
            member_ids=people,
        )

    def key_of(self, dojo_id: str) -> str:
        return next(key for key, document in self.documents.items() if document.dojo_id == dojo_id)

    def keys(self, result: DojoSearchResult) -> list[str]:
        return [self.key_of(hit.dojo_id) for hit in result.hits]


def build_dojo_corpus() -> DojoCorpus:
    corpus = DojoCorpus()
    a, b = corpus.tenant_a, corpus.tenant_b
    corpus.add(
        "randori",
        tenant=a,
        creator=corpus.alice,
        name="Randori de Python",
        description="Kata do boliche em duplas, com TDD",
        language="Python",
        status="ACTIVE",
        private=False,
        scheduled="2030-01-10T18:00:00",
    )
    corpus.add(
        "types",
        tenant=a,
        creator=corpus.bob,
        name="TypeScript types dojo",
        description="Generics and narrowing, live",
        language="TypeScript",
        status="ACTIVE",
        private=False,
        scheduled="2030-01-05T18:00:00",
    )
    corpus.add(
        "algorithms",
        tenant=a,
        creator=corpus.bob,
        name="Dojo de Algoritmos",
        description="Grafos e programação dinâmica",
        language="Python",
        status="SCHEDULED",
        private=False,
        scheduled="2030-01-20T19:00:00",
    )
    corpus.add(
        "kata",
        tenant=a,
        creator=corpus.bob,
        name="Kata de Refatoração",
        description="Refactoring a legacy checkout in JavaScript",
        language="JavaScript",
        status="SCHEDULED",
        private=False,
        scheduled="2030-02-01T19:00:00",
    )
    corpus.add(
        "secret",
        tenant=a,
        creator=corpus.bob,
        name="Rust ownership dojo",
        description="Borrow checker exercises",
        language="Rust",
        status="SCHEDULED",
        private=True,
        scheduled="2030-03-01T19:00:00",
        members=[corpus.bob, corpus.dave],
    )
    corpus.add(
        "mine",
        tenant=a,
        creator=corpus.alice,
        name="Go concurrency kata",
        description="Channels and worker pools",
        language="Go",
        status="SCHEDULED",
        private=True,
        scheduled=None,
    )
    corpus.add(
        "done",
        tenant=a,
        creator=corpus.alice,
        name="Python testing retrospective",
        description="What we learnt from property-based tests",
        language="Python",
        status="COMPLETED",
        private=False,
        scheduled="2029-10-01T10:00:00",
    )
    corpus.add(
        "cancelled",
        tenant=a,
        creator=corpus.bob,
        name="Cancelled Python meetup",
        description="Postponed",
        language="Python",
        status="CANCELLED",
        private=False,
        scheduled="2030-04-01T19:00:00",
    )
    corpus.add(
        "sauce",
        tenant=b,
        creator=corpus.carol,
        name="Python randori secreto",
        description="Tenant B's own dojo",
        language="Python",
        status="ACTIVE",
        private=False,
        scheduled="2030-01-01T10:00:00",
    )
    return corpus


@pytest.fixture(scope="module")
async def dojos(engine: SearchEngine) -> AsyncIterator[DojoSearchEngine]:
    """The engine's dojo read model; on OpenSearch in an index of the test's own, deleted afterwards."""
    if not isinstance(engine, OpenSearchEngine):
        await engine.dojos.ensure_indices()
        yield engine.dojos
        return
    own = OpenSearchDojoEngine(
        engine.client, index_prefix=f"{engine.prefix}-dojos", shards=1, replicas=0, refresh="wait_for"
    )
    await own.ensure_indices()
    try:
        yield own
    finally:
        await engine.client.indices.delete(index=f"{own.prefix}-v*")


@pytest.fixture(scope="module")
async def corpus(dojos: DojoSearchEngine) -> DojoCorpus:
    built = build_dojo_corpus()
    for document in built.documents.values():
        assert await dojos.upsert(document)
    return built


def claims_for(tenant_id: str, user_id: str) -> TokenClaims:
    now = datetime.now(UTC)
    return TokenClaims(
        user_id=uuid.UUID(user_id),
        tenant_id=uuid.UUID(tenant_id),
        roles=("MEMBER",),
        jti=uuid.uuid4().hex,
        expires_at=now + timedelta(minutes=15),
        issued_at=now,
    )


async def search_as(
    dojos: DojoSearchEngine,
    tenant: str,
    user: str,
    criteria: DojoSearchCriteria | None = None,
    page: int = 1,
    page_size: int = 20,
) -> DojoSearchResult:
    return await DojoSearchService(dojos).search_dojos(
        claims_for(tenant, user), criteria or DojoSearchCriteria(), PageParams(page=page, page_size=page_size)
    )


async def keys_for(
    dojos: DojoSearchEngine, corpus: DojoCorpus, criteria: DojoSearchCriteria, user: str | None = None
) -> list[str]:
    return corpus.keys(await search_as(dojos, corpus.tenant_a, user or corpus.alice, criteria))


# -- the seed's listing and its visibility rule ----------------------------------------------------


async def test_active_dojos_come_first_then_upcoming_by_scheduled_start(
    dojos: DojoSearchEngine, corpus: DojoCorpus
) -> None:
    result = await search_as(dojos, corpus.tenant_a, corpus.alice)
    # Alice's private dojo has no scheduled start: last of the scheduled ones.
    assert corpus.keys(result) == ["types", "randori", "algorithms", "kata", "mine"]
    assert result.total == 5
    first = result.hits[0]
    assert (first.status, first.language, first.participant_count, first.is_private) == (
        "ACTIVE",
        "TypeScript",
        1,
        False,
    )
    assert first.scheduled_start_time == datetime(2030, 1, 5, 18, tzinfo=UTC)


async def test_a_private_dojo_is_seen_by_its_creator_and_the_people_taking_part_only(
    dojos: DojoSearchEngine, corpus: DojoCorpus
) -> None:
    everyone = DojoSearchCriteria(statuses=("SCHEDULED", "ACTIVE", "COMPLETED", "CANCELLED"))
    by_user = {
        name: set(await keys_for(dojos, corpus, everyone, user))
        for name, user in (("alice", corpus.alice), ("bob", corpus.bob), ("dave", corpus.dave))
    }
    public = {"randori", "types", "algorithms", "kata", "done", "cancelled"}
    assert by_user["alice"] == public | {"mine"}
    assert by_user["bob"] == public | {"secret"}
    assert by_user["dave"] == public | {"secret"}, "dave takes part in bob's private dojo"
    stranger = str(uuid.uuid4())
    assert set(await keys_for(dojos, corpus, everyone, stranger)) == public


async def test_another_tenants_dojos_never_appear(dojos: DojoSearchEngine, corpus: DojoCorpus) -> None:
    assert await keys_for(dojos, corpus, DojoSearchCriteria(text="randori")) == ["randori"]
    as_carol = await search_as(dojos, corpus.tenant_b, corpus.carol)
    assert corpus.keys(as_carol) == ["sauce"]
    # A member id from tenant A means nothing in tenant B.
    assert corpus.keys(await search_as(dojos, corpus.tenant_b, corpus.dave)) == ["sauce"]


# -- free text ------------------------------------------------------------------------------------


async def test_accents_are_ignored(dojos: DojoSearchEngine, corpus: DojoCorpus) -> None:
    assert await keys_for(dojos, corpus, DojoSearchCriteria(text="refatoracao")) == ["kata"]
    assert await keys_for(dojos, corpus, DojoSearchCriteria(text="PROGRAMACAO dinamica")) == ["algorithms"]


async def test_misspelt_words_find_the_dojos_they_meant(dojos: DojoSearchEngine, corpus: DojoCorpus) -> None:
    assert await keys_for(dojos, corpus, DojoSearchCriteria(text="algoritmso")) == ["algorithms"]
    assert await keys_for(dojos, corpus, DojoSearchCriteria(text="pyhton randori")) == ["randori"]


async def test_a_prefix_and_the_description_match_too(dojos: DojoSearchEngine, corpus: DojoCorpus) -> None:
    assert await keys_for(dojos, corpus, DojoSearchCriteria(text="algor")) == ["algorithms"]
    assert await keys_for(dojos, corpus, DojoSearchCriteria(text="boliche")) == ["randori"]
    assert await keys_for(dojos, corpus, DojoSearchCriteria(text="unicorn")) == []


async def test_text_keeps_the_listing_order_unless_relevance_is_asked_for(
    dojos: DojoSearchEngine, corpus: DojoCorpus
) -> None:
    criteria = DojoSearchCriteria(text="dojo", statuses=("ACTIVE", "SCHEDULED"))
    assert await keys_for(dojos, corpus, criteria, corpus.bob) == ["types", "algorithms", "secret"]
    ranked = await search_as(
        dojos, corpus.tenant_a, corpus.bob, dataclasses.replace(criteria, sort="relevance")
    )
    assert set(corpus.keys(ranked)) == {"types", "algorithms", "secret"}
    scores = [hit.score for hit in ranked.hits if hit.score is not None]
    assert len(scores) == 3
    assert scores == sorted(scores, reverse=True)


# -- filters and pages ----------------------------------------------------------------------------


async def test_language_filter_ignores_case(dojos: DojoSearchEngine, corpus: DojoCorpus) -> None:
    assert await keys_for(dojos, corpus, DojoSearchCriteria(languages=("python",))) == [
        "randori",
        "algorithms",
    ]
    assert await keys_for(dojos, corpus, DojoSearchCriteria(languages=("GO", "rust"))) == ["mine"]


async def test_status_filter_reaches_finished_dojos(dojos: DojoSearchEngine, corpus: DojoCorpus) -> None:
    assert await keys_for(dojos, corpus, DojoSearchCriteria(statuses=("COMPLETED",))) == ["done"]
    assert await keys_for(dojos, corpus, DojoSearchCriteria(statuses=("cancelled", "COMPLETED"))) == [
        "done",
        "cancelled",
    ]


async def test_scheduled_range_is_inclusive_of_whole_days(
    dojos: DojoSearchEngine, corpus: DojoCorpus
) -> None:
    days = DojoSearchCriteria(scheduled_from="2030-01-10", scheduled_to="2030-01-20")
    assert await keys_for(dojos, corpus, days) == ["randori", "algorithms"]
    instants = DojoSearchCriteria(
        scheduled_from="2030-01-10T18:00:01Z", scheduled_to="2030-02-01T19:00:00+00:00"
    )
    assert await keys_for(dojos, corpus, instants) == ["algorithms", "kata"]


async def test_pages_split_the_same_order(dojos: DojoSearchEngine, corpus: DojoCorpus) -> None:
    whole = corpus.keys(await search_as(dojos, corpus.tenant_a, corpus.alice))
    pages = [
        await search_as(dojos, corpus.tenant_a, corpus.alice, page=page, page_size=2) for page in (1, 2, 3)
    ]
    assert [corpus.keys(page) for page in pages] == [whole[0:2], whole[2:4], whole[4:]]
    assert {page.total for page in pages} == {5}


async def test_newest_first(dojos: DojoSearchEngine, corpus: DojoCorpus) -> None:
    newer = dataclasses.replace(
        corpus.documents["kata"],
        dojo_id=str(uuid.uuid4()),
        name="Newest kata of all",
        created_at=instant("2029-09-02T09:00:00") or "",
    )
    assert await dojos.upsert(newer)
    keys = await search_as(dojos, corpus.tenant_a, corpus.alice, DojoSearchCriteria(sort="newest"))
    assert keys.hits[0].dojo_id == newer.dojo_id


async def test_invalid_criteria_are_refused(dojos: DojoSearchEngine, corpus: DojoCorpus) -> None:
    for criteria in (
        DojoSearchCriteria(statuses=("SOMETIME",)),
        DojoSearchCriteria(scheduled_from="2030-02-01", scheduled_to="2030-01-01"),
        DojoSearchCriteria(scheduled_from="next tuesday"),
        DojoSearchCriteria(text="x" * 201),
    ):
        with pytest.raises(BadRequestError):
            await search_as(dojos, corpus.tenant_a, corpus.alice, criteria)
    with pytest.raises(BadRequestError):
        await search_as(dojos, corpus.tenant_a, corpus.alice, page=600, page_size=20)


# -- writes ------------------------------------------------------------------------------------------


async def test_an_older_version_never_overwrites_a_newer_one(
    dojos: DojoSearchEngine, corpus: DojoCorpus
) -> None:
    first = dataclasses.replace(
        corpus.documents["kata"], dojo_id=str(uuid.uuid4()), name="Mob session planner", version=1
    )
    second = dataclasses.replace(first, name="Mob session organiser", version=2)
    assert await dojos.upsert(second)
    assert not await dojos.upsert(first)
    assert not await dojos.upsert(second)
    assert await names_for(dojos, corpus, "mob session") == ["Mob session organiser"]
    versions = await dojos.versions(None, None, tenant_ids=[first.tenant_id])
    stored = {item.dojo_id: item.version for item in versions}
    assert stored[first.dojo_id] == 2


async def test_a_delete_removes_the_dojo_and_no_late_update_brings_it_back(
    dojos: DojoSearchEngine, corpus: DojoCorpus
) -> None:
    live = dataclasses.replace(
        corpus.documents["kata"], dojo_id=str(uuid.uuid4()), name="Ephemeral pairing", version=3
    )
    assert await dojos.upsert(live)
    assert await names_for(dojos, corpus, "ephemeral") == ["Ephemeral pairing"]
    assert await dojos.delete(live.tenant_id, live.dojo_id, 4)
    assert await names_for(dojos, corpus, "ephemeral") == []
    assert not await dojos.upsert(dataclasses.replace(live, version=3, name="Ephemeral pairing again"))
    assert await names_for(dojos, corpus, "ephemeral") == []
    assert not await dojos.delete(live.tenant_id, live.dojo_id, 4)
    versions = await dojos.versions(None, None, tenant_ids=[live.tenant_id])
    tombstone = next(item for item in versions if item.dojo_id == live.dojo_id)
    assert (tombstone.version, tombstone.deleted) == (4, True)


async def test_joining_a_private_dojo_makes_it_visible(dojos: DojoSearchEngine, corpus: DojoCorpus) -> None:
    newcomer = str(uuid.uuid4())
    secret = corpus.documents["secret"]
    criteria = DojoSearchCriteria(text="ownership")
    assert await keys_for(dojos, corpus, criteria, newcomer) == []
    joined = dataclasses.replace(
        secret, version=2, member_ids=[*secret.member_ids, newcomer], participant_count=3
    )
    assert await dojos.upsert(joined)
    result = await search_as(dojos, corpus.tenant_a, newcomer, criteria)
    assert corpus.keys(result) == ["secret"]
    assert result.hits[0].participant_count == 3


async def names_for(dojos: DojoSearchEngine, corpus: DojoCorpus, text: str) -> list[str]:
    result = await search_as(dojos, corpus.tenant_a, corpus.alice, DojoSearchCriteria(text=text))
    return [hit.name for hit in result.hits]


# -- the embedded engine: forced row-level security --------------------------------------------------

EXPLICIT_TENANT = re.compile(r"\b(?:d|t)\.tenant_id = scope\.tenant_id\b")


def postgres_only(dojos: DojoSearchEngine) -> PostgresDojoEngine:
    if not isinstance(dojos, PostgresDojoEngine):
        pytest.skip("row-level security belongs to the embedded engine")
    return dojos


async def test_row_level_security_alone_keeps_other_tenants_out(
    dojos: DojoSearchEngine, corpus: DojoCorpus
) -> None:
    """The one-statement search with every explicit tenant predicate removed: only the forced
    policy, with the tenant the statement sets itself, can keep tenant B's dojo out."""
    postgres = postgres_only(dojos)
    query = DojoQuery(
        tenant_id=corpus.tenant_a, viewer_id=corpus.alice, text="python", statuses=("ACTIVE", "SCHEDULED")
    )
    words = query_words(query.text)
    sql, args = postgres.search_sql(query, [[word] for word in words], check_lexicon=True)
    unscoped = EXPLICIT_TENANT.sub("TRUE", sql)
    assert unscoped != sql
    pool = postgres.engine.pool
    assert pool is not None
    async with pool.acquire() as connection:
        assert await connection.fetchval("SELECT current_user") == "search_app"
        row = await connection.fetchrow(unscoped, *args)
        left_over = await connection.fetchval("SELECT current_setting('app.tenant_id', true)")
        visible_now = await connection.fetchval("SELECT count(*) FROM dojo_search_documents")
    assert row is not None
    # Tenant B's "Python randori secreto" matches the text too, and is public.
    assert [str(hit[0]) for hit in row["hits"]] == [corpus.documents["randori"].dojo_id]
    assert left_over in (None, "")
    assert visible_now == 0


async def test_the_application_role_cannot_reach_another_tenant_or_lift_the_policy(
    dojos: DojoSearchEngine, corpus: DojoCorpus, search_settings: Settings
) -> None:
    postgres_only(dojos)
    connection = await asyncpg.connect(search_settings.database_url("search"))
    try:
        async with connection.transaction():
            await connection.execute("SELECT set_config('app.tenant_id', $1, true)", corpus.tenant_a)
            tenants = await connection.fetch("SELECT DISTINCT tenant_id::text FROM dojo_search_documents")
            assert [row[0] for row in tenants] == [corpus.tenant_a]
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.execute(
                    "INSERT INTO dojo_search_documents (tenant_id, dojo_id, version) VALUES ($1, $2, 1)",
                    corpus.tenant_b,
                    str(uuid.uuid4()),
                )
        assert await connection.fetchval("SELECT count(*) FROM dojo_search_terms") == 0
        for table in ("dojo_search_documents", "dojo_search_terms"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    finally:
        await connection.close()
