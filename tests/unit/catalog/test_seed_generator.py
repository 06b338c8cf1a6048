"""The seed generator's POCs are deterministic, varied and pass the catalog's own rules."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from api.catalog.languages import canonical_language
from api.catalog.service import (
    MAX_DESCRIPTION_LENGTH,
    MAX_FRAMEWORKS,
    MAX_NAME_LENGTH,
    MAX_TAGS,
    repository_url_error,
)
from infra.seed_pocs import generate_pocs

pytestmark = pytest.mark.unit

TENANT = uuid.UUID("5f0c1a7e-0000-4000-8000-000000000001")
USERS = [uuid.UUID(int=index + 1, version=4) for index in range(5)]
UNTIL = datetime(2026, 6, 30, tzinfo=UTC)


def test_same_arguments_same_pocs_and_another_seed_other_pocs() -> None:
    first = generate_pocs(TENANT, USERS, 200, seed=1, until=UNTIL)
    assert first == generate_pocs(TENANT, USERS, 200, seed=1, until=UNTIL)
    other = generate_pocs(TENANT, USERS, 200, seed=2, until=UNTIL)
    assert {poc.poc_id for poc in first}.isdisjoint({poc.poc_id for poc in other})
    other_tenant = generate_pocs(uuid.uuid4(), USERS, 200, seed=1, until=UNTIL)
    assert {poc.poc_id for poc in first}.isdisjoint({poc.poc_id for poc in other_tenant})


def test_every_poc_passes_the_catalogs_rules() -> None:
    pocs = generate_pocs(TENANT, USERS, 3000, seed=3, until=UNTIL)
    assert len({poc.poc_id for poc in pocs}) == 3000
    for poc in pocs:
        assert poc.tenant_id == TENANT
        assert poc.user_id in USERS
        assert 1 <= len(poc.name) <= MAX_NAME_LENGTH
        assert poc.description is not None
        assert len(poc.description) <= MAX_DESCRIPTION_LENGTH
        assert repository_url_error(poc.repository_url) is None, poc.repository_url
        assert poc.language is not None
        assert canonical_language(poc.language) == poc.language
        assert 1 <= len(poc.tags) <= MAX_TAGS
        assert len(poc.frameworks) <= MAX_FRAMEWORKS
        assert len({tag.key for tag in poc.tags}) == len(poc.tags)
        assert poc.created_at is not None
        assert poc.updated_at is not None
        assert UNTIL - timedelta(days=5 * 365) <= poc.created_at <= poc.updated_at <= UNTIL
        if poc.deleted_at is not None:
            assert poc.deleted_at > poc.updated_at


def test_the_data_looks_like_a_real_tenant() -> None:
    pocs = generate_pocs(TENANT, USERS, 5000, seed=4, until=UNTIL)
    languages = Counter(poc.language for poc in pocs)
    assert languages.most_common(1)[0][0] == "Python"
    assert len(languages) >= 12
    years = Counter(poc.created_at.year for poc in pocs if poc.created_at)
    assert len(years) >= 5
    assert years[2025] > years[2022]
    owners = Counter(poc.user_id for poc in pocs)
    assert owners[USERS[0]] > owners[USERS[-1]] > 0
    public = sum(poc.is_public for poc in pocs) / len(pocs)
    assert 0.35 < public < 0.55
    tags = Counter(tag.display for poc in pocs for tag in poc.tags)
    assert tags.most_common(1)[0][0] == "api"
    assert any("ç" in tag or "ã" in tag for tag in tags)
    portuguese = sum(" de " in poc.name or " em " in poc.name or " com " in poc.name for poc in pocs)
    assert 0.4 < portuguese / len(pocs) < 0.8
    assert sum(poc.deleted_at is not None for poc in pocs) > 0


def test_a_hundred_thousand_pocs_are_all_distinct() -> None:
    """The benchmarks' size: every POC its own id, and names varied enough to search among.
    (How long generation takes is the benchmark's business, not a test's.)"""
    pocs = generate_pocs(TENANT, USERS, 100_000, seed=5, until=UNTIL)
    assert len({poc.poc_id for poc in pocs}) == 100_000
    assert len({poc.name for poc in pocs}) > 5_000


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="user"):
        generate_pocs(TENANT, [], 10)
    with pytest.raises(ValueError, match="negative"):
        generate_pocs(TENANT, USERS, -1)
    assert generate_pocs(TENANT, USERS, 0) == []
