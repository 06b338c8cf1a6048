"""The OpenSearch dojo adapter against its request/response contract, with no server.

As for POCs (tests/unit/search/test_opensearch_contract.py): each test replays one fixture of
``fixtures/opensearch_dojos/`` beside this file, with the real opensearch-py client sending its
requests to a stand-in transport that compares them with the recorded ones and answers with
responses in OpenSearch's documented shapes. The adapter is reached as the POC engine's ``dojos``,
as the service and the worker reach it. Behaviour against a live server runs in
test_dojo_search_behaviour.py whenever OPENSEARCH_URL is set.
``MRBILL_RECORD_OPENSEARCH_CONTRACT=1`` re-records the requests after a deliberate change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from api.search.dojo_engine import DojoQuery
from api.search.dojo_opensearch import DOJO_INDEX_MAPPINGS, OpenSearchDojoEngine
from api.search.opensearch_engine import OpenSearchEngine
from tests.unit.search.opensearch_standin import RecordedExchanges, standin_client
from workflows.dojo_indexing_types import DojoDocument, DojoVersion

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent / "fixtures" / "opensearch_dojos"
TENANT = "0b7e4a8e-1c1f-4c55-9a57-3f2a8d6c1001"
CREATOR = "5f0c2c1e-8c3a-4f0e-a1b2-3c4d5e6f7001"
MEMBER = "5f0c2c1e-8c3a-4f0e-a1b2-3c4d5e6f7009"
DOJO_1 = "7c2e9f10-3b4a-4d5e-8f60-aabbccdd0001"
DOJO_2 = "7c2e9f10-3b4a-4d5e-8f60-aabbccdd0002"
NOW = "2026-12-01T10:00:00+00:00"

Replay = Callable[[str], OpenSearchDojoEngine]


@pytest.fixture
async def replay() -> AsyncIterator[Replay]:
    recordings: list[RecordedExchanges] = []
    engines: list[OpenSearchEngine] = []

    def start(name: str) -> OpenSearchDojoEngine:
        # An absolute name: the stand-in's fixture folder is joined with it as it is.
        exchanges = RecordedExchanges(str(FIXTURES / name))
        recordings.append(exchanges)
        engine = OpenSearchEngine(standin_client(exchanges), clock=lambda: NOW)
        engines.append(engine)
        return engine.dojos

    yield start
    for engine in engines:
        await engine.close()
    for exchanges in recordings:
        exchanges.finish()


def dojo(version: int = 3) -> DojoDocument:
    return DojoDocument(
        dojo_id=DOJO_1,
        tenant_id=TENANT,
        creator_id=CREATOR,
        name="Randori de Python",
        description="Kata do boliche em duplas",
        language="Python",
        status="ACTIVE",
        is_private=True,
        created_at="2029-09-01T09:00:00+00:00",
        version=version,
        scheduled_start_time="2030-01-10T18:00:00+00:00",
        started_at="2030-01-10T18:02:00+00:00",
        participant_count=2,
        member_ids=[MEMBER, CREATOR, MEMBER],
    )


async def test_the_index_is_created_once_with_the_seed_mapping_and_the_write_alias(replay: Replay) -> None:
    dojos = replay("ensure_dojo_index")
    assert await dojos.ensure_indices() == ["mrbill-dojos-v1", "mrbill-dojos"]
    body = dojos.index_body()
    assert body["settings"]["index"]["number_of_shards"] == 2, "the seed's dojo index has 2 shards"
    seed_fields = {
        "dojo_id",
        "creator_id",
        "tenant_id",
        "name",
        "description",
        "language",
        "status",
        "is_private",
        "scheduled_start_time",
        "created_at",
        "started_at",
        "ended_at",
        "participant_count",
        "tags",
    }
    assert seed_fields | {"member_ids", "status_rank", "deleted", "version"} <= set(
        DOJO_INDEX_MAPPINGS["properties"]
    )
    assert DOJO_INDEX_MAPPINGS["properties"]["name"]["fields"]["keyword"] == {"type": "keyword"}


async def test_an_existing_index_is_left_alone(replay: Replay) -> None:
    assert await replay("ensure_dojo_index_existing").ensure_indices() == []


async def test_upsert_uses_external_versions_and_tenant_routing(replay: Replay) -> None:
    assert await replay("upsert_dojo").upsert(dojo(3))


async def test_an_older_version_is_refused_by_the_server_and_reported_as_not_stored(replay: Replay) -> None:
    assert not await replay("upsert_dojo_older_version").upsert(dojo(2))


async def test_delete_writes_a_tombstone_at_the_deleting_version(replay: Replay) -> None:
    assert await replay("delete_dojo_as_tombstone").delete(TENANT, DOJO_1, 4)


async def test_search_sends_the_visibility_rule_every_filter_and_the_listing_order(replay: Replay) -> None:
    dojos = replay("search_dojos")
    result = await dojos.search(
        DojoQuery(
            tenant_id=TENANT,
            viewer_id=MEMBER,
            text="randori pyhton",
            languages=("Python", "JavaScript"),
            statuses=("ACTIVE", "SCHEDULED"),
            scheduled_from=datetime(2030, 1, 1, tzinfo=UTC),
            scheduled_to=datetime(2030, 2, 1, tzinfo=UTC),
            sort="upcoming",
            offset=20,
            limit=10,
        )
    )
    assert result.total == 2
    first, second = result.hits
    assert (first.dojo_id, first.name, first.status, first.participant_count, first.score) == (
        DOJO_1,
        "Randori de Python",
        "ACTIVE",
        4,
        3.1,
    )
    assert first.scheduled_start_time == datetime(2030, 1, 10, 18, tzinfo=UTC)
    assert first.started_at == datetime(2030, 1, 10, 18, 2, tzinfo=UTC)
    assert (second.description, second.scheduled_start_time, second.ended_at, second.participant_count) == (
        None,
        None,
        None,
        0,
    )
    assert second.created_at == datetime(2029, 9, 2, 9, tzinfo=UTC)


async def test_a_search_before_any_dojo_was_indexed_finds_nothing(replay: Replay) -> None:
    result = await replay("search_dojos_before_any_index").search(
        DojoQuery(tenant_id=TENANT, viewer_id=CREATOR, statuses=("ACTIVE", "SCHEDULED"))
    )
    assert (result.total, result.hits) == (0, [])


async def test_versions_of_a_key_range(replay: Replay) -> None:
    versions = await replay("dojo_versions_range").versions(
        (TENANT, "00000000-0000-0000-0000-000000000000"), (TENANT, DOJO_2), limit=10, tenant_ids=[TENANT]
    )
    assert versions == [
        DojoVersion(tenant_id=TENANT, dojo_id=DOJO_1, version=3, deleted=False),
        DojoVersion(tenant_id=TENANT, dojo_id=DOJO_2, version=5, deleted=True),
    ]
