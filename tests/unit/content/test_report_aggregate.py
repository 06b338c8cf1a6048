"""The figures of a report: counted in the report's time zone, every month listed, groups ordered."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.content.reports.aggregate import (
    decode_pocs,
    decode_summary,
    encode_pocs,
    encode_summary,
    ordered_pocs,
    summarise,
)
from api.content.reports.model import InvalidReportOptionsError, ReportOptions
from tests.unit.content.report_samples import GENERATED_AT, options, poc_id, sample_pocs
from workflows.report_generation_types import ReportJob, ReportPoc

pytestmark = pytest.mark.unit


def _poc(index: int, created_at: str, **fields: object) -> ReportPoc:
    values: dict[str, object] = {
        "poc_id": poc_id(index),
        "name": f"POC {index}",
        "repository_url": f"https://example.com/{index}",
        "created_at": created_at,
    }
    values.update(fields)
    return ReportPoc(**values)  # type: ignore[arg-type]


def test_months_are_counted_in_the_report_time_zone() -> None:
    pocs = [_poc(1, "2025-03-01T01:00:00+00:00"), _poc(2, "2025-03-01T04:00:00Z")]

    in_sao_paulo = summarise(pocs, options())
    in_utc = summarise(pocs, options(time_zone="UTC"))

    assert [(m.month, m.count) for m in in_sao_paulo.months if m.count] == [("2025-02", 1), ("2025-03", 1)]
    assert [(m.month, m.count) for m in in_utc.months if m.count] == [("2025-03", 2)]


def test_every_month_of_the_period_is_listed_zero_ones_too() -> None:
    pocs = [_poc(1, "2025-01-15T12:00:00Z"), _poc(2, "2025-04-10T12:00:00Z"), _poc(3, "2025-04-11T12:00:00Z")]
    report = options(
        period_from=datetime(2024, 12, 1, 3, tzinfo=UTC),
        period_to=datetime(2025, 6, 1, 3, tzinfo=UTC),  # midnight in São Paulo, exclusive
    )

    summary = summarise(pocs, report)

    assert [(m.month, m.count) for m in summary.months] == [
        ("2024-12", 0),
        ("2025-01", 1),
        ("2025-02", 0),
        ("2025-03", 0),
        ("2025-04", 2),
        ("2025-05", 0),
    ]
    assert summary.busiest_month is not None
    assert (summary.busiest_month.month, summary.busiest_month.count) == ("2025-04", 2)


def test_without_a_period_months_run_from_the_first_poc_to_the_generation() -> None:
    summary = summarise([_poc(1, "2025-10-20T12:00:00Z")], options())

    assert summary.months[0].month == "2025-10"
    assert summary.months[-1].month == "2026-01"
    assert len(summary.months) == 4


def test_figures_of_a_realistic_selection() -> None:
    pocs = sample_pocs(42)

    summary = summarise(pocs, options())

    assert summary.poc_count == 42
    assert summary.public_count == sum(1 for poc in pocs if poc.is_public) == 14
    assert summary.private_count == 28
    assert sum(tally.count for tally in summary.languages) == 42
    assert summary.languages[-1].key is None, "the POCs without a language come last"
    assert summary.languages[-1].count == 4
    assert summary.languages[0].label == "Python"
    assert summary.languages[0].count == sum(1 for poc in pocs if poc.language == "Python") == 13
    assert summary.language_count == 6
    assert sum(month.count for month in summary.months) == 42
    first = min(datetime.fromisoformat(poc.created_at) for poc in pocs)
    last = max(datetime.fromisoformat(poc.created_at) for poc in pocs)
    assert summary.first_created_at == first
    assert summary.last_created_at == last


def test_tag_spellings_meet_on_their_key_and_are_counted_once_per_poc() -> None:
    pocs = [
        _poc(1, "2025-01-01T12:00:00Z", tags=["Programação funcional", "api"]),
        _poc(2, "2025-01-02T12:00:00Z", tags=["programacao  funcional", "API", "api"]),
        _poc(3, "2025-01-03T12:00:00Z", tags=["Programação funcional"]),
        _poc(4, "2025-01-04T12:00:00Z"),
    ]

    summary = summarise(pocs, options())

    assert [(t.label, t.count) for t in summary.top_tags] == [("Programação funcional", 3), ("api", 2)]
    assert summary.tag_count == 2


def test_top_tags_are_limited_and_ordered_by_count_then_name() -> None:
    pocs = [_poc(i, "2025-01-01T12:00:00Z", tags=[f"tag{i:02d}", "comum"]) for i in range(15)]

    summary = summarise(pocs, options())

    assert len(summary.top_tags) == 10
    assert summary.top_tags[0].label == "comum"
    assert [t.label for t in summary.top_tags[1:4]] == ["tag00", "tag01", "tag02"]
    assert summary.tag_count == 16


def test_groups_follow_the_order_asked_and_list_pocs_oldest_first() -> None:
    pocs = [
        _poc(1, "2025-02-10T12:00:00Z", language="Python", tags=["api", "dados"], frameworks=["FastAPI"]),
        _poc(2, "2025-01-10T12:00:00Z", language="Python", tags=["api"]),
        _poc(3, "2025-03-10T12:00:00Z", language="Go", tags=[]),
        _poc(4, "2025-03-01T01:00:00Z", language=None, tags=["dados"]),
    ]

    summary = summarise(pocs, options(group_by=("tag", "language", "month", "framework")))

    assert [group.field for group in summary.groups] == ["tag", "language", "month", "framework"]
    by_tag = summary.group("tag")
    assert by_tag is not None
    assert [(b.label, b.poc_ids) for b in by_tag.buckets] == [
        ("api", [poc_id(2), poc_id(1)]),
        ("dados", [poc_id(1), poc_id(4)]),
        (None, [poc_id(3)]),
    ]
    by_language = summary.group("language")
    assert by_language is not None
    assert [(b.label, b.count) for b in by_language.buckets] == [("Python", 2), ("Go", 1), (None, 1)]
    by_month = summary.group("month")
    assert by_month is not None
    assert [(b.key, b.poc_ids) for b in by_month.buckets] == [
        ("2025-01", [poc_id(2)]),
        ("2025-02", [poc_id(1), poc_id(4)]),
        ("2025-03", [poc_id(3)]),
    ]
    by_framework = summary.group("framework")
    assert by_framework is not None
    assert [(b.label, b.count) for b in by_framework.buckets] == [("FastAPI", 1), (None, 3)]


def test_an_empty_selection_has_zero_figures_and_no_busiest_month() -> None:
    without_period = summarise([], options(group_by=("language",)))
    with_period = summarise(
        [],
        options(
            period_from=datetime(2025, 1, 1, 3, tzinfo=UTC), period_to=datetime(2025, 4, 1, 3, tzinfo=UTC)
        ),
    )

    assert without_period.poc_count == 0
    assert without_period.months == []
    assert without_period.busiest_month is None
    assert without_period.first_created_at is None
    assert without_period.groups[0].buckets == []
    assert [(m.month, m.count) for m in with_period.months] == [
        ("2025-01", 0),
        ("2025-02", 0),
        ("2025-03", 0),
    ]
    assert with_period.busiest_month is None


def test_summary_and_pocs_survive_a_json_round_trip() -> None:
    pocs = sample_pocs(12)
    summary = summarise(pocs, options(group_by=("language", "tag", "framework", "month")))

    assert decode_summary(encode_summary(summary)) == summary
    assert decode_pocs(encode_pocs(pocs)) == pocs


def test_tables_are_ordered_oldest_first_then_by_name() -> None:
    pocs = [
        _poc(1, "2025-02-01T00:00:00Z", name="b"),
        _poc(2, "2025-01-01T00:00:00Z", name="z"),
        _poc(3, "2025-02-01T00:00:00Z", name="A"),
    ]

    assert [poc.poc_id for poc in ordered_pocs(pocs)] == [poc_id(2), poc_id(3), poc_id(1)]


@pytest.mark.parametrize(
    "changes",
    [
        {"format": "docx"},
        {"locale": "fr"},
        {"group_by": ("language", "colour")},
        {"group_by": ("tag", "tag")},
        {"time_zone": "Mars/Olympus_Mons"},
        {"generated_at": datetime(2026, 1, 1)},
        {"period_from": datetime(2025, 2, 1, tzinfo=UTC), "period_to": datetime(2025, 1, 1, tzinfo=UTC)},
    ],
)
def test_options_that_cannot_describe_a_report_are_refused(changes: dict[str, object]) -> None:
    values: dict[str, object] = {
        "title": "t",
        "owner_name": "o",
        "owner_email": None,
        "format": "pdf",
        "locale": "pt_BR",
        "time_zone": "America/Sao_Paulo",
        "generated_at": GENERATED_AT,
    }
    values.update(changes)

    with pytest.raises(InvalidReportOptionsError):
        ReportOptions(**values)  # type: ignore[arg-type]


def test_options_from_a_workflow_job() -> None:
    job = ReportJob(
        request_id="r",
        tenant_id="t",
        user_id="u",
        title="Relatório",
        format="xlsx",
        locale="pt-BR",
        from_date="2025-01-01T03:00:00+00:00",
        to_date="2026-01-01T03:00:00Z",
        include_tags=["api"],
        group_by=["month", "tag"],
        time_zone="America/Manaus",
    )

    built = ReportOptions.from_job(job, owner_name="Ana", owner_email=None, generated_at=GENERATED_AT)

    assert built.locale == "pt_BR"
    assert built.period_from == datetime(2025, 1, 1, 3, tzinfo=UTC)
    assert built.period_to == datetime(2026, 1, 1, 3, tzinfo=UTC)
    assert built.group_by == ("month", "tag")
    assert built.include_tags == ("api",)
    assert built.zone.key == "America/Manaus"
