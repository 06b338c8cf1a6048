"""Reports per month and videos per year, per the tenant's plan, without asking identity.

The plan comes from the access token's ``plan`` claim (identity puts the tenant's subscription
plan there). A token without one (issued before the claim existed) or naming a plan this
process does not know gets the most restrictive plan configured: a missing claim must never
be a way around a quota.

Months (and the years videos are counted in) are calendar months and years in UTC. Content
does not know the tenant's time zone, and one boundary for every tenant keeps the count a
single index range; the 429 answer says exactly when the window resets (``resetsAt``), so
nobody has to guess.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from api.common.settings import PlanQuota, Settings


@dataclass(frozen=True, slots=True)
class ReportQuota:
    plan: str
    reports_per_month: int


@dataclass(frozen=True, slots=True)
class QuotaWindow:
    """The calendar month (UTC) a request is counted in: ``[starts_at, resets_at)``."""

    starts_at: datetime
    resets_at: datetime

    def seconds_left(self, now: datetime) -> int:
        return max(1, math.ceil((self.resets_at - now).total_seconds()))


@dataclass(frozen=True, slots=True)
class VideoQuota:
    plan: str
    videos_per_year: int


def _plan_limit(settings: Settings, plan: str | None, limit: Callable[[PlanQuota], int]) -> tuple[str, int]:
    """`plan` and its limit; unknown or missing plans get the most restrictive one configured."""
    plans: dict[str, PlanQuota] = settings.plans
    if plan is not None and plan in plans:
        return plan, limit(plans[plan])
    if not plans:
        return plan or "", 0
    strictest = min(plans, key=lambda name: (limit(plans[name]), name))
    return strictest, limit(plans[strictest])


def report_quota(settings: Settings, plan: str | None) -> ReportQuota:
    """The quota of `plan`; unknown or missing plans get the most restrictive one configured."""
    name, limit = _plan_limit(settings, plan, lambda quota: quota.reports_per_month)
    return ReportQuota(plan=name, reports_per_month=limit)


def video_quota(settings: Settings, plan: str | None) -> VideoQuota:
    """Videos per year of `plan`, with the same fallback as `report_quota`."""
    name, limit = _plan_limit(settings, plan, lambda quota: quota.videos_per_year)
    return VideoQuota(plan=name, videos_per_year=limit)


def month_window(now: datetime) -> QuotaWindow:
    """The UTC calendar month containing `now`."""
    current = now.astimezone(UTC)
    starts_at = current.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if starts_at.month == 12:
        resets_at = starts_at.replace(year=starts_at.year + 1, month=1)
    else:
        resets_at = starts_at.replace(month=starts_at.month + 1)
    return QuotaWindow(starts_at=starts_at, resets_at=resets_at)


def year_window(now: datetime) -> QuotaWindow:
    """The UTC calendar year containing `now`."""
    current = now.astimezone(UTC)
    starts_at = current.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    return QuotaWindow(starts_at=starts_at, resets_at=starts_at.replace(year=starts_at.year + 1))
