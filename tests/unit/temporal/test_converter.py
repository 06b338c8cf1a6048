"""The shared data converter: dataclasses, pydantic models and msgspec Structs, same JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import msgspec
import pydantic
import pytest

from temporal.converter import data_converter
from workflows.tenant_onboarding_types import OnboardingInput, OnboardingProgress

pytestmark = pytest.mark.unit


class SignupBody(msgspec.Struct, rename="camel"):
    tenant_name: str
    admin_email: str


class Report(pydantic.BaseModel):
    request_id: UUID
    created_at: datetime


@dataclass
class Wrapper:
    progress: OnboardingProgress


async def _round_trip(value: object, type_hint: type) -> object:
    [payload] = await data_converter.encode([value])
    [decoded] = await data_converter.decode([payload], [type_hint])
    return decoded


async def test_dataclasses_keep_working() -> None:
    value = OnboardingInput(
        "Acme", "acme", "a@acme.example", "$argon2id$h", "Ana", "pt_BR", domain="acme.test"
    )
    assert await _round_trip(value, OnboardingInput) == value
    nested = Wrapper(OnboardingProgress(status="FAILED", completed_steps=["create_tenant"], error="boom"))
    assert await _round_trip(nested, Wrapper) == nested


async def test_msgspec_structs_round_trip_with_their_own_field_names() -> None:
    value = SignupBody(tenant_name="Acme", admin_email="a@acme.example")
    [payload] = await data_converter.encode([value])

    assert json.loads(payload.data) == {"tenantName": "Acme", "adminEmail": "a@acme.example"}
    assert await _round_trip(value, SignupBody) == value


async def test_pydantic_models_round_trip() -> None:
    value = Report(request_id=UUID(int=7), created_at=datetime(2026, 11, 26, 7, 0, tzinfo=UTC))
    assert await _round_trip(value, Report) == value
