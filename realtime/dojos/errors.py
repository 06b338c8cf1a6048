"""The dojo service's problems: the kernel's classes with codes a client can act on.

Titles and details are English msgids translated by the kernel's handler (catalogs in
``realtime/dojos/locale``). A dojo the caller may not see (another tenant's, or a private one
they never took part in) is "not found", exactly like one that does not exist, so ids and join
codes reveal nothing.
"""

from __future__ import annotations

from api.common.errors import ConflictError, NotFoundError, PermissionDeniedError, RateLimitedError
from api.common.i18n import N_, translate

STATUS_NAMES: dict[str, str] = {
    "SCHEDULED": N_("scheduled"),
    "ACTIVE": N_("in progress"),
    "COMPLETED": N_("completed"),
    "CANCELLED": N_("cancelled"),
}
"""How a detail names a dojo's status to a person; the code itself is in ``dojoStatus``."""


class DojoNotFoundError(NotFoundError):
    code = "dojo-not-found"
    title = N_("Dojo not found")

    def __init__(self) -> None:
        super().__init__(N_("There is no dojo with this id or join code, or it is not visible to you."))


class FacilitatorOnlyError(PermissionDeniedError):
    code = "dojo-facilitator-only"
    title = N_("Only the facilitator may do this")

    def __init__(self) -> None:
        super().__init__(N_("Only the dojo's facilitator (the person who created it) may do this."))


class DojoStatusError(ConflictError):
    """The action does not fit the dojo's status (the state machine's refusals).

    ``code`` says which rule: ``dojo-not-started`` (still scheduled), ``dojo-already-started``
    (already in progress) or ``dojo-finished`` (completed or cancelled).
    """

    title = N_("Not possible in the dojo's current status")

    def __init__(self, code: str, detail: str, status: str) -> None:
        self.code = code
        self.dojo_status = status
        super().__init__(detail, extra={"dojoStatus": status})

    def render_detail(self, locale: str) -> str | None:
        if self.detail is None:
            return None
        name = STATUS_NAMES.get(self.dojo_status)
        return translate(locale, self.detail, status=translate(locale, name) if name else self.dojo_status)

    @classmethod
    def finished(cls, status: str) -> DojoStatusError:
        return cls("dojo-finished", N_("The dojo has ended ({status}); it can no longer change."), status)

    @classmethod
    def not_started(cls, status: str) -> DojoStatusError:
        return cls("dojo-not-started", N_("The dojo has not started yet ({status})."), status)

    @classmethod
    def already_started(cls, status: str) -> DojoStatusError:
        return cls("dojo-already-started", N_("The dojo has already started ({status})."), status)


class DojoFullError(ConflictError):
    code = "dojo-full"
    title = N_("Dojo full")

    def __init__(self, limit: int) -> None:
        super().__init__(
            N_("The dojo already has its {limit} participants; you may still join as an observer."),
            extra={"maxParticipants": limit},
            limit=limit,
        )


class ObserversFullError(ConflictError):
    code = "dojo-observers-full"
    title = N_("No room for more observers")

    def __init__(self, limit: int) -> None:
        super().__init__(
            N_("The dojo already has its {limit} observers."), extra={"maxObservers": limit}, limit=limit
        )


class NotAParticipantError(ConflictError):
    code = "not-a-participant"
    title = N_("Not in this dojo")

    def __init__(self) -> None:
        super().__init__(N_("You are not in this dojo, so there is nothing to leave."))


class ParticipantRemovedError(PermissionDeniedError):
    """Joining a dojo one was removed from, by id or by join code."""

    code = "dojo-participant-removed"
    title = N_("Removed from this dojo")

    def __init__(self) -> None:
        super().__init__(N_("The facilitator removed you from this dojo, so you cannot join it again."))


class ParticipantNotFoundError(NotFoundError):
    """The facilitator named someone who is not in the dojo (or, for a removal, never was)."""

    code = "dojo-participant-not-found"
    title = N_("Not in this dojo")

    def __init__(self) -> None:
        super().__init__(N_("This person is not in the dojo."))


class FacilitatorStaysError(ConflictError):
    code = "dojo-facilitator-stays"
    title = N_("The facilitator stays in the dojo")

    def __init__(self) -> None:
        super().__init__(
            N_("The facilitator cannot be removed from their own dojo; end or cancel it instead.")
        )


class JoinCodeAttemptsError(RateLimitedError):
    code = "join-code-attempts"
    title = N_("Too many wrong join codes")

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            N_("Too many join codes that match no dojo; wait a moment before trying again."),
            retry_after=retry_after,
        )
