"""Query words, typo budgets, highlight HTML, and the service's scoping of every query."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from api.common.auth import TokenClaims
from api.common.errors import BadRequestError
from api.common.pagination import PageParams
from api.search.engine import HIGHLIGHT_END, HIGHLIGHT_START, TAG_FACET_SIZE, Facets
from api.search.opensearch_engine import fold
from api.search.postgres_engine import _corrected_groups, _facets
from api.search.service import SearchCriteria, SearchService
from api.search.text import allowed_edits, edit_distance, highlight_html, query_words

pytestmark = pytest.mark.unit


def claims(**overrides: object) -> TokenClaims:
    now = datetime.now(UTC)
    values: dict[str, object] = {
        "user_id": uuid.uuid4(),
        "tenant_id": uuid.uuid4(),
        "roles": ("MEMBER",),
        "jti": "j",
        "expires_at": now + timedelta(minutes=5),
        "issued_at": now,
    }
    values.update(overrides)
    return TokenClaims(**values)  # type: ignore[arg-type]


def test_query_words_keep_letters_and_digits_only() -> None:
    assert query_words("  Programação' OR 1=1; -- em C++ & <b>python</b> ") == [
        "programação",
        "or",
        "1",
        "em",
        "c",
        "b",
        "python",
    ]
    assert query_words("a_b:c") == ["a", "b", "c"]
    assert query_words(None) == []
    assert len(query_words(" ".join(f"w{index}" for index in range(30)))) == 8


@pytest.mark.parametrize(
    ("left", "right", "distance"),
    [
        ("pyhton", "python", 1),
        ("python", "python", 0),
        ("pythn", "python", 1),
        ("dashbord", "dashboard", 1),
        ("kitten", "sitting", 3),
        ("", "abc", 3),
    ],
)
def test_edit_distance_counts_a_swap_of_neighbours_once(left: str, right: str, distance: int) -> None:
    assert edit_distance(left, right) == distance


def test_edit_distance_stops_at_the_limit() -> None:
    assert edit_distance("javascript", "typescript", limit=2) == 3


def test_typo_budget_follows_opensearch_auto() -> None:
    assert [allowed_edits(word) for word in ("go", "java", "react", "python", "kubernetes")] == [
        0,
        1,
        1,
        2,
        2,
    ]


def test_highlights_escape_the_text_and_mark_matches() -> None:
    fragment = f"<script>x</script> & {HIGHLIGHT_START}Programação{HIGHLIGHT_END}"
    assert highlight_html(fragment) == "&lt;script&gt;x&lt;/script&gt; &amp; <mark>Programação</mark>"


def test_fold_matches_the_folded_normalizer() -> None:
    assert fold(" Educação ") == "educacao"
    assert fold("ÁNÁLISE") == "analise"


def test_the_service_always_scopes_to_the_callers_tenant_and_visibility() -> None:
    caller = claims()
    query = SearchService(engine=None).scoped_query(  # type: ignore[arg-type]
        caller, SearchCriteria(text="  python ", owner="me", tags=(" data ", "data", "")), PageParams(2, 10)
    )
    assert (query.tenant_id, query.viewer_id) == (str(caller.tenant_id), str(caller.user_id))
    assert query.owner_id == str(caller.user_id)
    assert query.text == "python"
    assert query.tags == ("data",)
    assert (query.offset, query.limit) == (10, 10)


def test_dates_cover_whole_days_and_instants_are_exact() -> None:
    query = SearchService(engine=None).scoped_query(  # type: ignore[arg-type]
        claims(),
        SearchCriteria(created_from="2024-01-01", created_to="2024-01-31"),
        PageParams(),
    )
    assert query.created_from == datetime(2024, 1, 1, tzinfo=UTC)
    assert query.created_to == datetime(2024, 2, 1, tzinfo=UTC)
    exact = SearchService(engine=None).scoped_query(  # type: ignore[arg-type]
        claims(), SearchCriteria(created_from="2024-01-01T10:00:00Z"), PageParams()
    )
    assert exact.created_from == datetime(2024, 1, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("criteria", "field"),
    [
        (SearchCriteria(owner="bob"), "owner"),
        (SearchCriteria(created_from="yesterday"), "from"),
        (SearchCriteria(created_from="2024-02-01", created_to="2024-01-01"), "to"),
        (SearchCriteria(text="x" * 201), "q"),
        (SearchCriteria(tags=tuple(f"t{index}" for index in range(21))), "tags"),
        (SearchCriteria(frameworks=("f" * 51,)), "frameworks"),
    ],
)
def test_invalid_criteria_name_the_field(criteria: SearchCriteria, field: str) -> None:
    with pytest.raises(BadRequestError) as raised:
        SearchService(engine=None).scoped_query(claims(), criteria, PageParams())  # type: ignore[arg-type]
    assert [error["field"] for error in raised.value.errors] == [field]


def test_pages_beyond_the_result_window_are_refused() -> None:
    with pytest.raises(BadRequestError) as raised:
        SearchService(engine=None).scoped_query(  # type: ignore[arg-type]
            claims(), SearchCriteria(), PageParams(page=101, page_size=100)
        )
    assert raised.value.errors[0]["field"] == "page"


def test_facet_values_are_split_by_kind_ordered_and_capped_like_opensearch() -> None:
    values = ["l:Go", "l:Python", "t:api", "f:Django", "t:backend"] + [
        f"t:tag{index:02d}" for index in range(60)
    ]
    counts = [1, 3, 2, 1, 2] + [1] * 60
    facets = _facets(values, counts)
    assert [(bucket.value, bucket.count) for bucket in facets.languages] == [("Python", 3), ("Go", 1)]
    assert [bucket.value for bucket in facets.tags[:3]] == ["api", "backend", "tag00"]
    assert len(facets.tags) == TAG_FACET_SIZE
    assert [bucket.value for bucket in facets.frameworks] == ["Django"]
    assert _facets(None, None) == Facets()


def test_corrections_keep_only_lexicon_words_within_the_typo_budget() -> None:
    groups = _corrected_groups(
        ["pyhton", "dashbxyz", "go"], [(1, "pyhton", ["python", "pythonic"]), (2, "dashbxyz", ["dashboard"])]
    )
    assert groups == [["pyhton", "python"], ["dashbxyz"], ["go"]]
