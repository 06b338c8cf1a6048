"""Creating, reading, changing and listing dojos through the API, with every refusal explained."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.realtime.dojos_support import Caller, DojoClient, TokenMint, create_dojo, dojo_body

pytestmark = pytest.mark.integration


def _later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def test_create_returns_the_dojo_with_its_creator_in_it_and_where_its_sockets_are(
    client: DojoClient, mint: TokenMint
) -> None:
    maria = mint.caller()
    start = _later(days=2)
    response = await client.post(
        "/v1/dojos",
        json={
            "name": "  Randori   de TDD ",
            "description": "Kata do boliche",
            "language": "py",
            "maxParticipants": 6,
            "isPrivate": False,
            "scheduledStartTime": start,
            "initialCode": "def score(rolls):\n    return 0\n",
            "rotationMinutes": 7,
            "breakEvery": 3,
            "breakMinutes": 10,
            "displayName": "Maria Silva",
        },
        headers=maria.headers,
    )
    assert response.status_code == 201, response.text
    dojo = response.json()
    assert response.headers["location"] == f"/v1/dojos/{dojo['dojoId']}"
    assert dojo["name"] == "Randori de TDD"
    assert (dojo["language"], dojo["languageName"]) == ("python", "Python")
    assert (dojo["maxParticipants"], dojo["isPrivate"], dojo["status"]) == (6, False, "SCHEDULED")
    assert datetime.fromisoformat(dojo["scheduledStartTime"]) == datetime.fromisoformat(start)
    assert (dojo["rotationMinutes"], dojo["breakEvery"], dojo["breakMinutes"]) == (7, 3, 10)
    assert dojo["initialCode"].startswith("def score")
    assert (dojo["creatorId"], dojo["tenantId"]) == (str(maria.user_id), str(maria.tenant_id))
    assert dojo["creatorName"] == "Maria Silva"
    assert dojo["version"] == 1
    assert dojo["participantCount"] == 1
    assert dojo["observerCount"] == 0
    [me] = dojo["participants"]
    assert me["userId"] == str(maria.user_id)
    assert (me["displayName"], me["role"], me["facilitator"]) == ("Maria Silva", "PARTICIPANT", True)
    assert dojo["viewer"] == {"role": "PARTICIPANT", "facilitator": True}
    assert len(dojo["joinCode"].replace("-", "")) == 12
    base = f"ws://dojos.test/v1/dojos/{dojo['dojoId']}"
    assert dojo["wsUrl"] == base
    assert dojo["codeRoom"] == "code"
    assert dojo["codeUrl"] == f"{base}/code" == f"{dojo['wsUrl']}/{dojo['codeRoom']}"
    assert dojo["sessionUrl"] == f"{base}/session"

    fetched = await client.get(f"/v1/dojos/{dojo['dojoId']}", headers=maria.headers)
    assert fetched.status_code == 200
    assert fetched.json() == dojo


async def test_defaults_apply_and_the_socket_scheme_follows_the_request(
    client: DojoClient, mint: TokenMint
) -> None:
    caller = mint.caller()
    dojo = await create_dojo(client, caller)
    assert (dojo["isPrivate"], dojo["maxParticipants"]) == (True, 10)
    assert (dojo["rotationMinutes"], dojo["breakEvery"], dojo["breakMinutes"]) == (5, 4, 5)
    assert dojo["scheduledStartTime"] is None
    assert dojo["initialCode"] is None
    assert dojo["participants"][0]["displayName"] == f"user-{caller.user_id.hex[:8]}"

    secure = await client.get(f"https://edge.example:8443/v1/dojos/{dojo['dojoId']}", headers=caller.headers)
    assert secure.json()["wsUrl"] == f"wss://edge.example:8443/v1/dojos/{dojo['dojoId']}"


async def test_every_invalid_field_is_reported_at_once_in_both_languages(
    client: DojoClient, mint: TokenMint
) -> None:
    caller = mint.caller()
    body = {
        "name": "   ",
        "description": "x" * 5001,
        "language": "brainfuck",
        "maxParticipants": 1,
        "scheduledStartTime": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        "initialCode": "x" * (64 * 1024 + 1),
        "rotationMinutes": 0,
        "breakEvery": 21,
        "breakMinutes": 31,
        "displayName": " ",
    }
    english = await client.post("/v1/dojos", json=body, headers=caller.in_language("en"))
    assert english.status_code == 422
    assert english.headers["content-type"].startswith("application/problem+json")
    problem = english.json()
    assert problem["code"] == "validation-failed"
    messages = {error["field"]: error["message"] for error in problem["errors"]}
    assert messages == {
        "name": "Must not be empty.",
        "description": "Must have at most 5000 characters.",
        "language": 'Unknown language "brainfuck". Use one of: python, javascript, c, cpp, java, bash, perl.',
        "maxParticipants": "Must be between 2 and 50.",
        "scheduledStartTime": "Must not be in the past.",
        "initialCode": "Must have at most 64 KB.",
        "rotationMinutes": "Must be between 1 and 60.",
        "breakEvery": "Must be between 0 and 20.",
        "breakMinutes": "Must be between 1 and 30.",
        "displayName": "Must not be empty.",
    }
    assert problem["allowedLanguages"] == ["python", "javascript", "c", "cpp", "java", "bash", "perl"]

    portuguese = await client.post("/v1/dojos", json=body, headers=caller.in_language("pt-BR"))
    assert portuguese.status_code == 422
    translated = {error["field"]: error["message"] for error in portuguese.json()["errors"]}
    assert translated.keys() == messages.keys()
    assert translated["name"] == "Não pode ficar vazio."
    assert translated["maxParticipants"] == "Deve estar entre 2 e 50."
    assert translated["scheduledStartTime"] == "Não pode estar no passado."
    assert translated["initialCode"] == "Deve ter no máximo 64 KB."
    assert translated["language"].startswith('Linguagem desconhecida "brainfuck"')
    assert portuguese.json()["title"] == "Falha na validação"


async def test_times_need_a_zone_and_a_horizon(client: DojoClient, mint: TokenMint) -> None:
    caller = mint.caller()
    for start, message in (
        ("2030-01-01T10:00:00", "Must include a time zone, as in 2026-05-01T19:00:00-03:00."),
        (_later(days=400), "Must be at most a year from now."),
    ):
        response = await client.post(
            "/v1/dojos", json=dojo_body(scheduledStartTime=start), headers=caller.in_language("en")
        )
        assert response.status_code == 422
        assert response.json()["errors"] == [{"field": "scheduledStartTime", "message": message}]


async def test_unknown_fields_and_wrong_types_are_refused(client: DojoClient, mint: TokenMint) -> None:
    caller = mint.caller()
    unknown = await client.post(
        "/v1/dojos", json=dojo_body(maxparticipants=3), headers=caller.in_language("en")
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [{"field": "maxparticipants", "message": "This field is not allowed."}]
    wrong = await client.post("/v1/dojos", json=dojo_body(maxParticipants="lots"), headers=caller.headers)
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "maxParticipants"
    missing = await client.post("/v1/dojos", json={"name": "Sem linguagem"}, headers=caller.in_language("en"))
    assert missing.status_code == 422
    assert missing.json()["errors"] == [{"field": "language", "message": "This field is required."}]


async def test_patch_changes_only_what_was_sent_and_bumps_the_version(
    client: DojoClient, mint: TokenMint
) -> None:
    maria = mint.caller()
    dojo = await create_dojo(client, maria, description="antes", initialCode="print(1)")
    path = f"/v1/dojos/{dojo['dojoId']}"
    changed = await client.patch(
        path,
        json={
            "name": "Coding dojo de sexta",
            "language": "JavaScript",
            "description": None,
            "maxParticipants": 4,
        },
        headers=maria.headers,
    )
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert (after["name"], after["language"], after["description"]) == (
        "Coding dojo de sexta",
        "javascript",
        None,
    )
    assert after["maxParticipants"] == 4
    assert after["initialCode"] == "print(1)"
    assert after["version"] == dojo["version"] + 1
    assert after["joinCode"] == dojo["joinCode"]

    unchanged = await client.patch(path, json={}, headers=maria.headers)
    assert unchanged.json()["version"] == after["version"]

    invalid = await client.patch(
        path, json={"name": "", "rotationMinutes": 99, "breakMinutes": 0}, headers=maria.in_language("en")
    )
    assert invalid.status_code == 422
    assert [error["field"] for error in invalid.json()["errors"]] == [
        "name",
        "rotationMinutes",
        "breakMinutes",
    ]


async def test_only_the_facilitator_changes_a_dojo(client: DojoClient, mint: TokenMint) -> None:
    maria = mint.caller()
    dojo = await create_dojo(client, maria, isPrivate=False)
    colleague = mint.caller(maria.tenant_id, roles=("ADMIN",))
    assert (
        await client.post(f"/v1/dojos/{dojo['dojoId']}/join", json={}, headers=colleague.headers)
    ).status_code == 200
    refused = await client.patch(
        f"/v1/dojos/{dojo['dojoId']}", json={"name": "Meu agora"}, headers=colleague.in_language("en")
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "dojo-facilitator-only"
    assert refused.json()["detail"] == "Only the dojo's facilitator (the person who created it) may do this."
    pt = await client.patch(
        f"/v1/dojos/{dojo['dojoId']}", json={"name": "x"}, headers=colleague.in_language("pt-BR")
    )
    assert pt.json()["detail"] == "Só o facilitador do dojo (quem o criou) pode fazer isso."


async def test_max_participants_cannot_drop_below_who_is_in(client: DojoClient, mint: TokenMint) -> None:
    maria = mint.caller()
    dojo = await create_dojo(client, maria, isPrivate=False, maxParticipants=5)
    for _ in range(2):
        guest = mint.caller(maria.tenant_id)
        assert (
            await client.post(f"/v1/dojos/{dojo['dojoId']}/join", headers=guest.headers)
        ).status_code == 200
    refused = await client.patch(
        f"/v1/dojos/{dojo['dojoId']}", json={"maxParticipants": 2}, headers=maria.in_language("en")
    )
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {
            "field": "maxParticipants",
            "message": "Must not be less than the 3 participants already in the dojo.",
        }
    ]
    accepted = await client.patch(
        f"/v1/dojos/{dojo['dojoId']}", json={"maxParticipants": 3}, headers=maria.headers
    )
    assert accepted.status_code == 200


async def _names(client: DojoClient, caller: Caller, query: str = "") -> list[str]:
    response = await client.get(f"/v1/dojos{query}", headers=caller.headers)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


async def test_list_shows_running_first_then_by_scheduled_start_with_filters(
    client: DojoClient, mint: TokenMint
) -> None:
    owner = mint.caller()
    tenant = owner.tenant_id
    names: dict[str, Any] = {}
    for name, start, language in (
        ("Later", _later(days=3), "python"),
        ("Sooner", _later(days=1), "javascript"),
        ("Unscheduled", None, "python"),
        ("Running", _later(days=5), "python"),
        ("Done", None, "java"),
    ):
        names[name] = await create_dojo(
            client, owner, name=name, scheduledStartTime=start, language=language, description=f"about {name}"
        )
    await client.post(f"/v1/dojos/{names['Running']['dojoId']}/start", headers=owner.headers)
    await client.post(f"/v1/dojos/{names['Done']['dojoId']}/cancel", headers=owner.headers)

    assert await _names(client, owner) == ["Running", "Sooner", "Later", "Unscheduled"]
    assert await _names(client, owner, "?language=py") == ["Running", "Later", "Unscheduled"]
    assert await _names(client, owner, "?q=SOON") == ["Sooner"]
    assert await _names(client, owner, "?q=about%20lat") == ["Later"]
    assert await _names(client, owner, "?status=CANCELLED") == ["Done"]
    assert await _names(client, owner, "?status=ACTIVE&status=cancelled") == ["Running", "Done"]
    page = (await client.get("/v1/dojos?pageSize=2&page=2", headers=owner.headers)).json()
    assert [item["name"] for item in page["items"]] == ["Later", "Unscheduled"]
    assert (page["totalItems"], page["totalPages"], page["page"]) == (4, 2, 2)
    item = page["items"][0]
    assert not {"participants", "joinCode", "initialCode"} & set(item)
    assert item["participantCount"] == 1

    other = mint.caller(tenant)
    assert await _names(client, other) == []
    assert await _names(client, owner, "?mine=true") == ["Running", "Sooner", "Later", "Unscheduled"]


async def test_bad_list_parameters_are_400(client: DojoClient, mint: TokenMint) -> None:
    caller = mint.caller()
    for query, field in (
        ("?status=FINISHED", "status"),
        ("?language=cobol", "language"),
        ("?pageSize=500", "pageSize"),
        (f"?q={'x' * 101}", "q"),
    ):
        response = await client.get(f"/v1/dojos{query}", headers=caller.in_language("en"))
        assert response.status_code == 400, (query, response.text)
        assert [error["field"] for error in response.json()["errors"]] == [field], query


async def test_unknown_ids_are_404_problems(client: DojoClient, mint: TokenMint) -> None:
    caller = mint.caller()
    missing = uuid.uuid4()
    for method, path in (
        ("GET", f"/v1/dojos/{missing}"),
        ("PATCH", f"/v1/dojos/{missing}"),
        ("POST", f"/v1/dojos/{missing}/start"),
        ("POST", f"/v1/dojos/{missing}/join"),
        ("POST", f"/v1/dojos/{missing}/leave"),
    ):
        response = await client.request(method, path, json={}, headers=caller.in_language("en"))
        assert response.status_code == 404, (method, path)
        assert response.json()["code"] == "dojo-not-found"
        assert response.json()["detail"] == (
            "There is no dojo with this id or join code, or it is not visible to you."
        )


async def test_the_openapi_document_names_every_operation(client: DojoClient) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    operations = {
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    assert {
        "createDojo",
        "listDojos",
        "getDojo",
        "updateDojo",
        "cancelDojo",
        "startDojo",
        "endDojo",
        "joinDojo",
        "joinDojoByCode",
        "leaveDojo",
        "regenerateDojoJoinCode",
        "getLiveness",
        "getReadiness",
    } <= operations
    assert document["info"]["title"] == "Mr Bill realtime API"
    schemas = document["components"]["schemas"]
    assert {"wsUrl", "codeUrl", "sessionUrl", "joinCode", "participants"} <= set(
        schemas["DojoOut"]["properties"]
    )
    assert "409" in document["paths"]["/v1/dojos/{dojo_id}/start"]["post"]["responses"]


async def test_health_and_readiness_answer_without_a_token(client: DojoClient) -> None:
    assert (await client.get("/health/live")).status_code == 200
    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert (await client.get("/v1/dojos")).status_code == 401
