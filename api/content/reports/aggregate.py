"""The figures of a report, counted once and stored between the workflow's activities.

`summarise` is pure and locale-free: keys and counts only, so one summary serves every format
and language, and the words are chosen by the renderer. Months are counted in the report's
time zone (a POC created at 2025-03-01T01:00Z belongs to February in São Paulo), and every month
of the period is listed, the empty ones too, so a chart shows the gaps people actually had.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import msgspec

from api.content.reports.model import ReportOptions, label_key, poc_created_at
from workflows.report_generation_types import ReportPoc


class Tally(msgspec.Struct, frozen=True, kw_only=True):
    """POCs per language, tag or framework; `key` None counts the POCs that have none."""

    key: str | None
    label: str | None
    """The spelling to print (the most common one among POCs sharing the key); None with `key`."""
    count: int


class MonthTally(msgspec.Struct, frozen=True, kw_only=True):
    month: str
    """``YYYY-MM`` in the report's time zone."""
    count: int


class GroupBucket(msgspec.Struct, frozen=True, kw_only=True):
    key: str | None
    """The matching key of a language, tag or framework, or ``YYYY-MM``; None: the POCs without one."""
    label: str | None
    poc_ids: list[str]
    """Oldest first, then by name."""

    @property
    def count(self) -> int:
        return len(self.poc_ids)


class ReportGroup(msgspec.Struct, frozen=True, kw_only=True):
    field: str
    """One of `GROUP_BY_FIELDS`."""
    buckets: list[GroupBucket]


class ReportSummary(msgspec.Struct, frozen=True, kw_only=True):
    poc_count: int
    public_count: int
    private_count: int
    languages: list[Tally]
    """Most POCs first; the POCs without a language last."""
    months: list[MonthTally]
    """Every month from the period's start to its end, chronological, zeros included."""
    busiest_month: MonthTally | None
    """The month with most POCs (the earliest of a tie); None without POCs."""
    top_tags: list[Tally]
    tag_count: int
    """Distinct tags (by key) over all the POCs."""
    frameworks: list[Tally]
    first_created_at: datetime | None
    last_created_at: datetime | None
    groups: list[ReportGroup]
    """In the order of `ReportOptions.group_by`."""
    time_zone: str

    @property
    def language_count(self) -> int:
        return sum(1 for tally in self.languages if tally.key is not None)

    def group(self, field: str) -> ReportGroup | None:
        return next((group for group in self.groups if group.field == field), None)


_summary_encoder = msgspec.json.Encoder()
_summary_decoder = msgspec.json.Decoder(ReportSummary)
_pocs_decoder = msgspec.json.Decoder(list[ReportPoc])


def encode_summary(summary: ReportSummary) -> bytes:
    return _summary_encoder.encode(summary)


def decode_summary(data: bytes) -> ReportSummary:
    return _summary_decoder.decode(data)


def encode_pocs(pocs: Sequence[ReportPoc]) -> bytes:
    return _summary_encoder.encode(list(pocs))


def decode_pocs(data: bytes) -> list[ReportPoc]:
    return _pocs_decoder.decode(data)


def month_key(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def ordered_pocs(pocs: Iterable[ReportPoc]) -> list[ReportPoc]:
    """Oldest first, ties by name: the order of every table and list of every format."""
    return sorted(pocs, key=lambda poc: (poc_created_at(poc), poc.name.casefold(), poc.poc_id))


def summarise(pocs: Sequence[ReportPoc], options: ReportOptions) -> ReportSummary:
    """The figures of `pocs`, which are already the selection (period and tag filters applied)."""
    zone = options.zone
    ordered = ordered_pocs(pocs)
    local_times = {poc.poc_id: poc_created_at(poc).astimezone(zone) for poc in ordered}
    public_count = sum(1 for poc in ordered if poc.is_public)

    per_month = Counter(month_key(local_times[poc.poc_id]) for poc in ordered)
    months = [
        MonthTally(month=month, count=per_month.get(month, 0))
        for month in _period_months(options, per_month.keys())
    ]
    busiest = max(months, key=lambda tally: tally.count, default=None)
    if busiest is not None and busiest.count == 0:
        busiest = None

    language_tallies = _tallies((poc.language,) if poc.language else () for poc in ordered)
    tag_tallies = _tallies(poc.tags for poc in ordered)
    framework_tallies = _tallies(poc.frameworks for poc in ordered)
    return ReportSummary(
        poc_count=len(ordered),
        public_count=public_count,
        private_count=len(ordered) - public_count,
        languages=language_tallies,
        months=months,
        busiest_month=busiest,
        top_tags=[tally for tally in tag_tallies if tally.key is not None][: options.top_tags],
        tag_count=sum(1 for tally in tag_tallies if tally.key is not None),
        frameworks=framework_tallies,
        first_created_at=poc_created_at(ordered[0]) if ordered else None,
        last_created_at=poc_created_at(ordered[-1]) if ordered else None,
        groups=[_group(field, ordered, local_times) for field in options.group_by],
        time_zone=options.time_zone,
    )


def _period_months(options: ReportOptions, seen: Iterable[str]) -> list[str]:
    """From the period's first month (else the first POC's) to its last (else the generation's).

    A POC outside the period (the selection should have left it out) still gets its month, so
    no count is ever dropped.
    """
    zone = options.zone
    seen_months = sorted(seen)
    if options.period_from is not None:
        first = month_key(options.period_from.astimezone(zone))
    elif seen_months:
        first = seen_months[0]
    else:
        return []
    if options.period_to is not None:
        last = month_key((options.period_to - timedelta(microseconds=1)).astimezone(zone))
    else:
        last = month_key(options.generated_at.astimezone(zone))
    first = min([first, *seen_months[:1]])
    last = max([last, first, *seen_months[-1:]])
    year, month = int(first[:4]), int(first[5:])
    months: list[str] = []
    while (key := f"{year:04d}-{month:02d}") <= last:
        months.append(key)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _tallies(labels_per_poc: Iterable[Iterable[str]]) -> list[Tally]:
    """Counts per label key, most first, then alphabetical; POCs with no label are counted last."""
    counts: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    without = 0
    for labels in labels_per_poc:
        keys_of_poc: set[str] = set()
        for label in labels:
            key = label_key(label)
            if not key:
                continue
            spellings.setdefault(key, Counter())[label.strip()] += 1
            if key not in keys_of_poc:
                keys_of_poc.add(key)
                counts[key] += 1
        if not keys_of_poc:
            without += 1
    tallies = [
        Tally(key=key, label=_most_common_spelling(spellings[key]), count=count)
        for key, count in counts.items()
    ]
    tallies.sort(key=lambda tally: (-tally.count, tally.key or ""))
    if without:
        tallies.append(Tally(key=None, label=None, count=without))
    return tallies


def _most_common_spelling(spellings: Counter[str]) -> str:
    return min(spellings.items(), key=lambda item: (-item[1], item[0]))[0]


def _group(field: str, ordered: list[ReportPoc], local_times: dict[str, datetime]) -> ReportGroup:
    """POCs per value of `field`; a POC with two tags is listed under both."""
    if field == "month":
        per_month: dict[str, list[str]] = {}
        for poc in ordered:
            per_month.setdefault(month_key(local_times[poc.poc_id]), []).append(poc.poc_id)
        buckets = [GroupBucket(key=key, label=key, poc_ids=ids) for key, ids in sorted(per_month.items())]
        return ReportGroup(field=field, buckets=buckets)

    def labels_of(poc: ReportPoc) -> list[str]:
        if field == "language":
            return [poc.language] if poc.language else []
        return list(poc.tags if field == "tag" else poc.frameworks)

    tallies = _tallies(labels_of(poc) for poc in ordered)
    members: dict[str | None, list[str]] = {tally.key: [] for tally in tallies}
    for poc in ordered:
        keys: set[str | None] = {label_key(label) or None for label in labels_of(poc)} - {None}
        for key in keys or {None}:
            members[key].append(poc.poc_id)
    return ReportGroup(
        field=field,
        buckets=[
            GroupBucket(key=tally.key, label=tally.label, poc_ids=members[tally.key]) for tally in tallies
        ],
    )
