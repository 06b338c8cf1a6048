"""The dojos' HTTP surface (the seed's DojoService). Handlers open the unit of work and call the service.

Ids and join codes of dojos the caller may not see answer 404, exactly like ones that do not
exist: other tenants' rows are invisible to row-level security, and private dojos one never took
part in are hidden by the service.

The state machine's actions are sub-resources (``POST /v1/dojos/{id}/start``); each answers the
dojo as it is afterwards, so a client never needs a second request to redraw. The facilitator
manages the people of the dojo under ``/v1/dojos/{id}/participants/{userId}`` (``DELETE`` removes,
``PATCH`` changes the role); their open sockets follow as soon as the change commits.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from litestar.types import ControllerRouterHandler

from api.common.errors import PROBLEM_MEDIA_TYPE
from api.common.pagination import Page, PageParams
from realtime.dojos.deps import DojoRuntime
from realtime.dojos.guards import tenant_members
from realtime.dojos.schemas import (
    DOJOS_PATH,
    DojoCreate,
    DojoOut,
    DojoSummaryOut,
    DojoUpdate,
    JoinByCodeRequest,
    JoinRequest,
    ProblemOut,
    RoleChange,
)
from realtime.dojos.service import MAX_QUERY_LENGTH, Actor, DojoFilters, DojoView

Dojos = NamedDependency[DojoRuntime]
CurrentActor = NamedDependency[Actor]
Paging = NamedDependency[PageParams]


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=ProblemOut,
        media_type=PROBLEM_MEDIA_TYPE,
        description=description,
        generate_examples=False,
    )


NOT_FOUND = _problem("No such dojo, or not one the caller may see (other tenants' dojos never are).")
FACILITATOR_ONLY = _problem("Only the dojo's facilitator (its creator) may do this (dojo-facilitator-only).")
INVALID = _problem("Invalid fields, every one of them listed.")


def _status_conflict(description: str) -> ResponseSpec:
    return _problem(f"{description} (dojoStatus says the status now).")


def websocket_base(request: Request[Any, Any, Any]) -> str:
    """``ws://host`` or ``wss://host`` as the client reached us (the edge's Host and scheme)."""
    base = request.base_url
    scheme = "wss" if base.scheme in ("https", "wss") else "ws"
    root = base.path.rstrip("/")
    return f"{scheme}://{base.netloc}{root}"


def _out(view: DojoView, request: Request[Any, Any, Any]) -> DojoOut:
    return DojoOut.from_view(view, websocket_base(request))


class DojoController(Controller):
    path = DOJOS_PATH
    tags = ["dojos"]  # noqa: RUF012 - Litestar's declared class attribute
    guards = [tenant_members]  # noqa: RUF012

    @post(
        "/",
        operation_id="createDojo",
        status_code=HTTP_201_CREATED,
        response_headers=[
            ResponseHeader(name="Location", documentation_only=True, description="The new dojo.")
        ],
        responses={422: INVALID},
    )
    async def create_dojo(
        self, data: JSONBody[DojoCreate], request: Request[Any, Any, Any], dojos: Dojos, actor: CurrentActor
    ) -> Response[DojoOut]:
        """Create a dojo (the seed's createDojo); you join it as a PARTICIPANT and facilitate it.

        It is private unless ``isPrivate`` is false: others join with its ``joinCode``.
        """
        async with dojos.work(actor.tenant_id) as work:
            view = await dojos.dojos.create(work, actor, data.to_draft())
        return Response(
            _out(view, request),
            status_code=HTTP_201_CREATED,
            headers={"Location": f"{DOJOS_PATH}/{view.dojo.dojo_id}"},
        )

    @get("/", operation_id="listDojos", responses={400: _problem("Invalid filters or paging.")})
    async def list_dojos(
        self,
        dojos: Dojos,
        actor: CurrentActor,
        paging: Paging,
        status: Annotated[
            list[str] | None,
            QueryParameter(
                name="status",
                description=(
                    "SCHEDULED, ACTIVE, COMPLETED or CANCELLED, repeatable; default: ACTIVE and SCHEDULED."
                ),
            ),
        ] = None,
        language: Annotated[
            str | None, QueryParameter(name="language", max_length=50, description="A language or an alias.")
        ] = None,
        q: Annotated[
            str | None,
            QueryParameter(
                name="q", max_length=MAX_QUERY_LENGTH, description="Words of the name or description."
            ),
        ] = None,
        mine: Annotated[
            bool, QueryParameter(name="mine", description="true: only dojos you created or are in now.")
        ] = False,
    ) -> Page[DojoSummaryOut]:
        """Dojos you may see (public ones, yours, and those you take part in): in progress first,
        then by scheduled start (the seed's listDojos)."""
        filters = DojoFilters(statuses=tuple(status or ()), language=language, text=q, mine=mine)
        async with dojos.work(actor.tenant_id) as work:
            records, total = await dojos.dojos.list_dojos(work, actor, filters, paging)
        return Page.build([DojoSummaryOut.from_record(record) for record in records], total, paging)

    @get("/{dojo_id:uuid}", operation_id="getDojo", responses={404: NOT_FOUND})
    async def get_dojo(
        self, dojo_id: FromPath[UUID], request: Request[Any, Any, Any], dojos: Dojos, actor: CurrentActor
    ) -> DojoOut:
        """A dojo with the people in it and where its sockets are (``wsUrl``, ``codeUrl``, ``sessionUrl``)."""
        async with dojos.work(actor.tenant_id) as work:
            view = await dojos.dojos.get(work, actor, dojo_id)
        return _out(view, request)

    @patch(
        "/{dojo_id:uuid}",
        operation_id="updateDojo",
        responses={
            403: FACILITATOR_ONLY,
            404: NOT_FOUND,
            409: _status_conflict("The dojo has ended (dojo-finished)"),
            422: INVALID,
        },
    )
    async def update_dojo(
        self,
        dojo_id: FromPath[UUID],
        data: JSONBody[DojoUpdate],
        request: Request[Any, Any, Any],
        dojos: Dojos,
        actor: CurrentActor,
    ) -> DojoOut:
        """Change the fields sent (facilitator only; not once the dojo has ended)."""
        async with dojos.work(actor.tenant_id) as work:
            view = await dojos.dojos.update(work, actor, dojo_id, data.to_changes())
        return _out(view, request)

    @post(
        "/{dojo_id:uuid}/start",
        operation_id="startDojo",
        status_code=HTTP_200_OK,
        responses={
            403: FACILITATOR_ONLY,
            404: NOT_FOUND,
            409: _status_conflict("Already started (dojo-already-started) or ended (dojo-finished)"),
        },
    )
    async def start_dojo(
        self, dojo_id: FromPath[UUID], request: Request[Any, Any, Any], dojos: Dojos, actor: CurrentActor
    ) -> DojoOut:
        """SCHEDULED to ACTIVE: the rooms open (facilitator only)."""
        async with dojos.work(actor.tenant_id) as work:
            view = await dojos.dojos.start(work, actor, dojo_id)
        return _out(view, request)

    @post(
        "/{dojo_id:uuid}/end",
        operation_id="endDojo",
        status_code=HTTP_200_OK,
        responses={
            403: FACILITATOR_ONLY,
            404: NOT_FOUND,
            409: _status_conflict("Not started yet (dojo-not-started) or already ended (dojo-finished)"),
        },
    )
    async def end_dojo(
        self, dojo_id: FromPath[UUID], request: Request[Any, Any, Any], dojos: Dojos, actor: CurrentActor
    ) -> DojoOut:
        """ACTIVE to COMPLETED: the final code is kept as a snapshot and every socket is closed."""
        async with dojos.work(actor.tenant_id) as work:
            view = await dojos.dojos.end(work, actor, dojo_id)
        return _out(view, request)

    @post(
        "/{dojo_id:uuid}/cancel",
        operation_id="cancelDojo",
        status_code=HTTP_200_OK,
        responses={
            403: FACILITATOR_ONLY,
            404: NOT_FOUND,
            409: _status_conflict("Already ended (dojo-finished)"),
        },
    )
    async def cancel_dojo(
        self, dojo_id: FromPath[UUID], request: Request[Any, Any, Any], dojos: Dojos, actor: CurrentActor
    ) -> DojoOut:
        """SCHEDULED or ACTIVE to CANCELLED (the seed's cancelDojo); sockets are closed (facilitator only)."""
        async with dojos.work(actor.tenant_id) as work:
            view = await dojos.dojos.cancel(work, actor, dojo_id)
        return _out(view, request)

    @post(
        "/{dojo_id:uuid}/join",
        operation_id="joinDojo",
        status_code=HTTP_200_OK,
        responses={
            404: NOT_FOUND,
            403: _problem("The facilitator removed you from this dojo (dojo-participant-removed)."),
            409: _problem("Full (dojo-full, dojo-observers-full) or ended (dojo-finished)."),
            422: INVALID,
        },
    )
    async def join_dojo(
        self,
        dojo_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        dojos: Dojos,
        actor: CurrentActor,
        data: JSONBody[JoinRequest | None] = None,
    ) -> DojoOut:
        """Join by id: a public dojo, or one you created or took part in (the seed's joinDojo).

        Joining again with another role changes it; with the same role changes nothing.
        """
        body = data or JoinRequest()
        async with dojos.work(actor.tenant_id) as work:
            view = await dojos.dojos.join(work, actor, dojo_id, body.role, body.display_name)
        return _out(view, request)

    @post(
        "/join",
        operation_id="joinDojoByCode",
        status_code=HTTP_200_OK,
        responses={
            403: _problem("The facilitator removed you from this dojo (dojo-participant-removed)."),
            404: _problem("No dojo of your tenant has this code."),
            409: _problem("Full (dojo-full, dojo-observers-full) or ended (dojo-finished)."),
            422: INVALID,
            429: _problem("Too many codes that matched nothing lately (join-code-attempts)."),
        },
    )
    async def join_dojo_by_code(
        self,
        data: JSONBody[JoinByCodeRequest],
        request: Request[Any, Any, Any],
        dojos: Dojos,
        actor: CurrentActor,
    ) -> DojoOut:
        """Join with the code the facilitator shared: private dojos too."""
        async with dojos.work(actor.tenant_id) as work:
            view = await dojos.dojos.join_by_code(work, actor, data.join_code, data.role, data.display_name)
        return _out(view, request)

    @post(
        "/{dojo_id:uuid}/leave",
        operation_id="leaveDojo",
        status_code=HTTP_200_OK,
        responses={
            404: NOT_FOUND,
            409: _problem("Not in the dojo (not-a-participant) or the dojo has ended (dojo-finished)."),
        },
    )
    async def leave_dojo(
        self, dojo_id: FromPath[UUID], request: Request[Any, Any, Any], dojos: Dojos, actor: CurrentActor
    ) -> DojoOut:
        """Leave the dojo (the seed's leaveDojo); it stays in your history and you may come back."""
        async with dojos.work(actor.tenant_id) as work:
            view = await dojos.dojos.leave(work, actor, dojo_id)
        return _out(view, request)

    @post(
        "/{dojo_id:uuid}/join-code",
        operation_id="regenerateDojoJoinCode",
        status_code=HTTP_200_OK,
        responses={403: FACILITATOR_ONLY, 404: NOT_FOUND, 409: _status_conflict("Ended (dojo-finished)")},
    )
    async def regenerate_join_code(
        self, dojo_id: FromPath[UUID], request: Request[Any, Any, Any], dojos: Dojos, actor: CurrentActor
    ) -> DojoOut:
        """Draw a new join code; the old one stops working (facilitator only)."""
        async with dojos.work(actor.tenant_id) as work:
            view = await dojos.dojos.regenerate_join_code(work, actor, dojo_id)
        return _out(view, request)

    @delete(
        "/{dojo_id:uuid}/participants/{user_id:uuid}",
        operation_id="removeDojoParticipant",
        status_code=HTTP_200_OK,
        responses={
            403: FACILITATOR_ONLY,
            404: _problem(
                "No such dojo (dojo-not-found), or the person never took part in it"
                " (dojo-participant-not-found)."
            ),
            409: _problem(
                "The facilitator cannot remove themself (dojo-facilitator-stays), or the dojo has ended"
                " (dojo-finished)."
            ),
        },
    )
    async def remove_participant(
        self,
        dojo_id: FromPath[UUID],
        user_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        dojos: Dojos,
        actor: CurrentActor,
    ) -> DojoOut:
        """Remove a person from the dojo (facilitator only): their sockets close at once (4403
        ``not-a-participant``) and they cannot join this dojo again, by id or by join code
        (``dojo-participant-removed``). Removing someone already removed changes nothing."""
        async with dojos.work(actor.tenant_id) as work:
            view = await dojos.dojos.remove_participant(work, actor, dojo_id, user_id)
        return _out(view, request)

    @patch(
        "/{dojo_id:uuid}/participants/{user_id:uuid}",
        operation_id="changeDojoParticipantRole",
        responses={
            403: FACILITATOR_ONLY,
            404: _problem(
                "No such dojo (dojo-not-found), or the person is not in it (dojo-participant-not-found)."
            ),
            409: _problem("Full (dojo-full, dojo-observers-full) or ended (dojo-finished)."),
            422: INVALID,
        },
    )
    async def change_participant_role(
        self,
        dojo_id: FromPath[UUID],
        user_id: FromPath[UUID],
        data: JSONBody[RoleChange],
        request: Request[Any, Any, Any],
        dojos: Dojos,
        actor: CurrentActor,
    ) -> DojoOut:
        """Make a person in the dojo a PARTICIPANT or an OBSERVER (facilitator only), within the dojo's
        limits: a full dojo takes no more participants. Their open sockets take the role at once (an
        observer's edits are refused)."""
        async with dojos.work(actor.tenant_id) as work:
            view = await dojos.dojos.change_role(work, actor, dojo_id, user_id, data.role)
        return _out(view, request)


ROUTE_HANDLERS: list[ControllerRouterHandler] = [DojoController]
