"""The demo tenant and platform SUPERADMIN that `make dev` leaves ready to use.

The demo tenant is created through the public API on the edge, exactly as a customer would
sign up, so a fresh `make dev` exercises sign-up, the onboarding saga and login end to end.
The credentials are fixed and documented (README): they only ever exist on a developer's
machine.

An empty demo tenant then gets realistic POCs (`infra.seed_pocs`, written as the catalog's
application role, each one's indexing started the way the catalog starts it), so search,
facets and suggestions have something to show on a fresh start. A tenant that has POCs
already is left alone: a restart never adds a second batch.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx

from api.common.settings import Settings
from infra.seed_pocs import seed_pocs_with_settings


@dataclass(frozen=True)
class DemoTenant:
    name: str = "Demo"
    slug: str = "demo"
    admin_email: str = "demo@mrbill.local"
    password: str = "mrbill-owner-2026"  # noqa: S105 - documented local demo credential
    full_name: str = "Demo Owner"
    locale: str = "pt_BR"
    plan: str = "PRO"
    """Sign-up gives FREE (one recap video a year); the demo shows everything, so the platform's
    SUPERADMIN moves it to PRO, as an operator would for a customer."""


@dataclass(frozen=True)
class Superadmin:
    tenant_slug: str = "platform"
    """The platform's own tenant, where identity keeps every SUPERADMIN."""
    email: str = "admin@mrbill.local"
    password: str = "mrbill-platform-2026"  # noqa: S105 - documented local demo credential
    full_name: str = "Platform Admin"


DEMO_TENANT = DemoTenant()
DEMO_SUPERADMIN = Superadmin()

DEMO_POC_COUNT = 60
"""Enough for every facet and a second page of results, few enough to index in seconds."""
DEMO_INDEXING_WAIT_SECONDS = 120.0

TERMINAL_FAILURES: frozenset[str] = frozenset({"FAILED", "COMPENSATED", "TERMINATED", "CANCELED"})


class SeedError(RuntimeError):
    """The demo could not be created; the message is meant for the operator."""


@dataclass(frozen=True)
class OnboardingStatus:
    status: str
    percent: int
    current_step: str | None


@dataclass(frozen=True)
class SeedResult:
    created: bool
    """False when the tenant already existed and its login worked."""
    access_token: str


ProgressCallback = Callable[[OnboardingStatus], None]


def login(client: httpx.Client, tenant: DemoTenant) -> httpx.Response:
    return client.post(
        "/v1/auth/login",
        json={"tenantSlug": tenant.slug, "email": tenant.admin_email, "password": tenant.password},
    )


def _access_token(response: httpx.Response) -> str:
    body: dict[str, Any] = response.json()
    token = body.get("accessToken")
    if not isinstance(token, str):
        raise SeedError(f"login answered without an access token: {body}")
    return token


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("title") or body
        return f"HTTP {response.status_code}: {detail}"
    return f"HTTP {response.status_code}: {body}"


def _status_of(body: dict[str, Any]) -> OnboardingStatus:
    nested = body.get("progress")
    progress: dict[str, Any] = nested if isinstance(nested, dict) else body
    percent = progress.get("percent", 0)
    return OnboardingStatus(
        status=str(progress.get("status") or body.get("status") or "RUNNING").upper(),
        percent=int(percent) if isinstance(percent, int | float) else 0,
        current_step=progress.get("currentStep"),
    )


def wait_for_onboarding(
    client: httpx.Client,
    status_url: str,
    on_progress: ProgressCallback,
    timeout: float,
    *,
    may_be_gone: bool = False,
) -> OnboardingStatus | None:
    """Poll until COMPLETED; None when `may_be_gone` and the workflow is no longer known."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(status_url)
        if response.status_code == 200:
            status = _status_of(response.json())
            on_progress(status)
            if status.status == "COMPLETED":
                return status
            if status.status in TERMINAL_FAILURES:
                raise SeedError(f"onboarding of the demo tenant ended {status.status}: {response.text[:300]}")
        elif response.status_code == 404 and may_be_gone:
            return None
        elif response.status_code != 404:
            raise SeedError(f"could not read onboarding progress: {_problem(response)}")
        if time.monotonic() > deadline:
            raise SeedError(f"onboarding did not complete within {timeout:.0f}s")
        time.sleep(0.5)


def seed_demo(
    edge_url: str,
    on_progress: ProgressCallback,
    tenant: DemoTenant = DEMO_TENANT,
    timeout: float = 180.0,
    superadmin: Superadmin = DEMO_SUPERADMIN,
) -> SeedResult:
    """Sign the demo tenant up through the edge unless its owner can already log in, then put
    it on the demo's plan (by the platform's SUPERADMIN, through identity's tenant API)."""
    try:
        return _seed(edge_url, on_progress, tenant, timeout, superadmin)
    except httpx.HTTPError as exc:
        raise SeedError(f"the edge at {edge_url} did not answer ({exc!s}); is `mrbill dev` running?") from exc


def _seed(
    edge_url: str, on_progress: ProgressCallback, tenant: DemoTenant, timeout: float, superadmin: Superadmin
) -> SeedResult:
    with httpx.Client(base_url=edge_url, timeout=30.0) as client:
        existing = login(client, tenant)
        if existing.status_code == 200:
            if _ensure_plan(client, tenant, superadmin):
                existing = login(client, tenant)  # a token that carries the new plan
            return SeedResult(created=False, access_token=_access_token(existing))
        signup = client.post(
            "/v1/signup",
            json={
                "tenantName": tenant.name,
                "slug": tenant.slug,
                "adminEmail": tenant.admin_email,
                "password": tenant.password,
                "fullName": tenant.full_name,
                "locale": tenant.locale,
            },
        )
        if signup.status_code not in (200, 201, 202, 409):
            raise SeedError(f"sign-up of the demo tenant was refused: {_problem(signup)}")
        location = signup.headers.get("location") if signup.status_code != 409 else None
        status_url = urljoin(f"{edge_url}/", location) if location else f"/v1/signup/{tenant.slug}"
        wait_for_onboarding(client, status_url, on_progress, timeout, may_be_gone=signup.status_code == 409)
        _ensure_plan(client, tenant, superadmin)
        proof = login(client, tenant)
        if proof.status_code != 200:
            hint = " (the slug is taken: was the demo password changed?)" if signup.status_code == 409 else ""
            raise SeedError(f"the demo owner cannot log in{hint}: {_problem(proof)}")
        return SeedResult(created=signup.status_code != 409, access_token=_access_token(proof))


def _ensure_plan(client: httpx.Client, tenant: DemoTenant, superadmin: Superadmin) -> bool:
    """Move the tenant to `tenant.plan` unless it is there; True when it was moved."""
    admin = client.post(
        "/v1/auth/login",
        json={
            "tenantSlug": superadmin.tenant_slug,
            "email": superadmin.email,
            "password": superadmin.password,
        },
    )
    if admin.status_code != 200:
        raise SeedError(f"the platform's SUPERADMIN cannot log in to set the demo's plan: {_problem(admin)}")
    headers = _bearer(_access_token(admin))
    found = client.get("/v1/tenants", params={"q": tenant.slug}, headers=headers)
    if found.status_code != 200:
        raise SeedError(f"the demo tenant could not be looked up: {_problem(found)}")
    current = next((item for item in found.json()["items"] if item["slug"] == tenant.slug), None)
    if current is None:
        raise SeedError(f"the demo tenant {tenant.slug!r} is not listed by identity")
    if current.get("subscriptionPlan") == tenant.plan:
        return False
    moved = client.patch(
        f"/v1/tenants/{current['tenantId']}", json={"subscriptionPlan": tenant.plan}, headers=headers
    )
    if moved.status_code != 200:
        raise SeedError(f"the demo tenant could not be moved to {tenant.plan}: {_problem(moved)}")
    return True


@dataclass(frozen=True)
class DemoPocs:
    seeded: int
    """POCs written now; 0 when the tenant had some already."""
    searchable: int
    """The owner's POCs search finds once indexing caught up (or when the wait ended)."""
    indexed: bool
    """False when the wait ended first: indexing goes on in the background."""


def _bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def _total(client: httpx.Client, path: str, access_token: str) -> int:
    response = client.get(path, params={"owner": "me", "pageSize": 1}, headers=_bearer(access_token))
    if response.status_code != 200:
        raise SeedError(f"GET {path} failed: {_problem(response)}")
    total = response.json().get("totalItems")
    if not isinstance(total, int):
        raise SeedError(f"GET {path} answered without totalItems: {response.text[:300]}")
    return total


def seed_demo_pocs(
    settings: Settings,
    edge_url: str,
    access_token: str,
    count: int = DEMO_POC_COUNT,
    wait_seconds: float = DEMO_INDEXING_WAIT_SECONDS,
) -> DemoPocs:
    """Give the demo owner `count` POCs unless the tenant has some, and wait until search has them.

    Who the owner is and what exists is asked through the edge with the owner's token; the rows
    are written by `infra.seed_pocs`, which also starts each POC's indexing.
    """
    try:
        with httpx.Client(base_url=edge_url, timeout=30.0) as client:
            me = client.get("/v1/me", headers=_bearer(access_token))
            if me.status_code != 200:
                raise SeedError(f"the demo owner's profile could not be read: {_problem(me)}")
            profile: dict[str, Any] = me.json()
            seeded = 0
            if _total(client, "/v1/pocs", access_token) == 0:
                report = asyncio.run(
                    seed_pocs_with_settings(
                        settings,
                        uuid.UUID(profile["tenantId"]),
                        [uuid.UUID(profile["userId"])],
                        count,
                        index=True,
                    )
                )
                seeded = report.inserted
            expected = _total(client, "/v1/pocs", access_token)
            deadline = time.monotonic() + wait_seconds
            while True:
                searchable = _total(client, "/v1/search/pocs", access_token)
                if searchable >= expected:
                    return DemoPocs(seeded=seeded, searchable=searchable, indexed=True)
                if time.monotonic() > deadline:
                    return DemoPocs(seeded=seeded, searchable=searchable, indexed=False)
                time.sleep(0.5)
    except httpx.HTTPError as exc:
        raise SeedError(f"the edge at {edge_url} did not answer ({exc!s})") from exc
    except OSError as exc:
        raise SeedError(f"the demo POCs could not be written ({exc!s})") from exc
