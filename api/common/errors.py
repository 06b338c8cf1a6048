"""One error base class for every service, rendered as RFC 9457 ``application/problem+json``.

A service raises a `ProblemError` subclass with an English msgid as ``detail``; the handler
translates title and detail into the request's locale. Litestar's own exceptions (routing,
validation, decoding) are rendered the same way, so a client never sees another error shape.
4xx answers are logged at info; only unexpected failures are logged as crashes, and their
internals never reach the client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, NotRequired, TypedDict

import structlog
from litestar import Request, Response
from litestar.exceptions import (
    ClientException,
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    SerializationException,
    ServiceUnavailableException,
    TooManyRequestsException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import ExceptionHandlersMap

from api.common.i18n import N_, request_locale, translate, translate_plural
from api.common.logging import current_request_id

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://mrbill.dev/problems/"

logger = structlog.get_logger(__name__)


class FieldError(TypedDict):
    """One invalid input: ``field`` is a camelCase path (``tags[1]``), ``message`` a msgid."""

    field: str
    message: str
    params: NotRequired[dict[str, Any]]


class ProblemError(Exception):
    """Base of every error a service raises on purpose; subclasses fix status, code and title."""

    status: int = 500
    code: str = "internal-error"
    title: str = N_("Internal server error")
    always_lists_errors: bool = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, object] | None = None,
        errors: Sequence[FieldError] = (),
        **params: Any,
    ) -> None:
        self.detail = detail
        self.params = params
        self.headers: dict[str, str] = dict(headers or {})
        self.extra: dict[str, object] = dict(extra or {})
        self.errors: list[FieldError] = list(errors)
        super().__init__(self.render_detail("en") or self.title)

    @property
    def type_uri(self) -> str:
        return PROBLEM_TYPE_BASE + self.code

    def render_detail(self, locale: str) -> str | None:
        return None if self.detail is None else translate(locale, self.detail, **self.params)

    def to_problem(self, locale: str, instance: str | None = None) -> dict[str, object]:
        """The RFC 9457 body; extension members come after the standard ones."""
        body: dict[str, object] = {
            "type": self.type_uri,
            "title": translate(locale, self.title),
            "status": self.status,
        }
        if (detail := self.render_detail(locale)) is not None:
            body["detail"] = detail
        if instance is not None:
            body["instance"] = instance
        body["code"] = self.code
        if self.errors or self.always_lists_errors:
            body["errors"] = render_field_errors(self.errors, locale)
        for key, value in self.extra.items():
            body.setdefault(key, value)
        return body


class BadRequestError(ProblemError):
    status = 400
    code = "bad-request"
    title = N_("Bad request")


class ValidationProblem(ProblemError):
    """The request was understood but some fields are invalid; lists every one of them."""

    status = 422
    code = "validation-failed"
    title = N_("Validation failed")
    always_lists_errors = True

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, object] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(
            detail if detail is not None else N_("Some fields are invalid."),
            headers=headers,
            extra=extra,
            errors=errors,
            **params,
        )


class AuthenticationError(ProblemError):
    status = 401
    code = "unauthenticated"
    title = N_("Authentication required")

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, object] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(
            detail, headers={"WWW-Authenticate": "Bearer", **(headers or {})}, extra=extra, **params
        )


class PermissionDeniedError(ProblemError):
    status = 403
    code = "forbidden"
    title = N_("Permission denied")


class NotFoundError(ProblemError):
    status = 404
    code = "not-found"
    title = N_("Resource not found")


class MethodNotAllowedError(ProblemError):
    status = 405
    code = "method-not-allowed"
    title = N_("Method not allowed")


class ConflictError(ProblemError):
    status = 409
    code = "conflict"
    title = N_("Conflict")


class PayloadTooLargeError(ProblemError):
    status = 413
    code = "payload-too-large"
    title = N_("Request body too large")


class _RetryLaterError(ProblemError):
    """A refusal the client may retry after ``retry_after`` seconds (Retry-After header)."""

    def __init__(
        self,
        detail: str | None = None,
        *,
        retry_after: int | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, object] | None = None,
        **params: Any,
    ) -> None:
        self.retry_after = None if retry_after is None else max(1, int(retry_after))
        merged_headers = dict(headers or {})
        merged_extra = dict(extra or {})
        if self.retry_after is not None:
            merged_headers["Retry-After"] = str(self.retry_after)
            merged_extra.setdefault("retryAfter", self.retry_after)
        super().__init__(detail, headers=merged_headers, extra=merged_extra, **params)

    def render_detail(self, locale: str) -> str | None:
        if self.detail is None and self.retry_after is not None:
            return translate_plural(
                locale, "Try again in {count} second.", "Try again in {count} seconds.", self.retry_after
            )
        return super().render_detail(locale)


class LockedError(_RetryLaterError):
    status = 423
    code = "locked"
    title = N_("Temporarily locked")


class RateLimitedError(_RetryLaterError):
    status = 429
    code = "rate-limited"
    title = N_("Too many requests")


class ServiceUnavailableError(_RetryLaterError):
    status = 503
    code = "service-unavailable"
    title = N_("Service unavailable")


class HTTPProblem(ProblemError):
    """Any other HTTP status Litestar or a dependency raised, with a code derived from its phrase."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        self.status = status
        phrase = _phrase(status)
        self.code = re.sub(r"[^a-z0-9]+", "-", phrase.lower()).strip("-") or "error"
        self.title = phrase
        super().__init__(detail, headers=headers, extra=extra)


# -- validation messages --------------------------------------------------------------------

_MSGSPEC_MESSAGES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^Object missing required field `(?P<field>[^`]+)`"), N_("This field is required.")),
    (re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`"), N_("This field is not allowed.")),
    (
        re.compile(r"^Expected `(?P<expected>[^`]+)`, got `(?P<actual>[^`]+)`"),
        N_("Expected a value of type {expected}, got {actual}."),
    ),
    (
        re.compile(r"^Expected `str` of length >= (?P<limit>\d+)"),
        N_("Must have at least {limit} characters."),
    ),
    (re.compile(r"^Expected `str` of length <= (?P<limit>\d+)"), N_("Must have at most {limit} characters.")),
    (re.compile(r"^Expected `array` of length >= (?P<limit>\d+)"), N_("Must have at least {limit} items.")),
    (re.compile(r"^Expected `array` of length <= (?P<limit>\d+)"), N_("Must have at most {limit} items.")),
    (re.compile(r"^Expected `\w+` >= (?P<limit>[-\d.]+)"), N_("Must be greater than or equal to {limit}.")),
    (re.compile(r"^Expected `\w+` <= (?P<limit>[-\d.]+)"), N_("Must be less than or equal to {limit}.")),
    (re.compile(r"^Expected `\w+` > (?P<limit>[-\d.]+)"), N_("Must be greater than {limit}.")),
    (re.compile(r"^Expected `\w+` < (?P<limit>[-\d.]+)"), N_("Must be less than {limit}.")),
    (re.compile(r"^Expected `str` matching regex"), N_("Has an invalid format.")),
    (re.compile(r"^Invalid enum value (?P<value>.+)$"), N_("Invalid value {value}.")),
    (re.compile(r"^Invalid UUID"), N_("Must be a valid UUID.")),
    (re.compile(r"^Invalid RFC3339 encoded (?P<kind>\w+)"), N_("Must be a valid ISO 8601 {kind}.")),
    (re.compile(r"^Invalid value (?P<value>.+)$"), N_("Invalid value {value}.")),
    (re.compile(r"^Missing required (?:\w+ )?parameter"), N_("This parameter is required.")),
)
_MISSING_PARAMETER = re.compile(r"^Missing required (?P<source>\w+) parameter '(?P<field>[^']+)'")


def _camel(segment: str) -> str:
    head, *rest = segment.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _field_path(key: str) -> str:
    return ".".join(_camel(segment) for segment in key.split(".") if segment)


def field_error_from_message(key: str, raw_message: str) -> FieldError:
    """A msgid (and its params) for one of msgspec's English messages, when it is a known one."""
    field = _field_path(key)
    for pattern, msgid in _MSGSPEC_MESSAGES:
        if match := pattern.search(raw_message):
            params = match.groupdict()
            if named_field := params.pop("field", None):
                field = f"{field}.{named_field}" if field and field != "data" else named_field
            error: FieldError = {"field": field, "message": msgid}
            if params:
                error["params"] = params
            return error
    return {"field": field, "message": raw_message}


def render_field_errors(errors: Sequence[FieldError], locale: str) -> list[dict[str, str]]:
    rendered: list[dict[str, str]] = []
    for error in errors:
        msgid = error["message"]
        rendered.append(
            {"field": error["field"], "message": translate(locale, msgid, **error.get("params", {}))}
        )
    return rendered


def _litestar_validation_problem(exc: ValidationException) -> ProblemError:
    """Body errors are 422 (the JSON was fine, its content was not); parameter errors are 400."""
    errors: list[FieldError] = []
    sources: set[str] = set()
    if isinstance(exc.extra, list):
        for item in exc.extra:
            if isinstance(item, Mapping) and "message" in item:
                errors.append(field_error_from_message(str(item.get("key", "")), str(item["message"])))
                sources.add(str(item.get("source", "")))
    elif match := _MISSING_PARAMETER.search(exc.detail):
        errors.append({"field": match["field"], "message": N_("This parameter is required.")})
        sources.add(match["source"])
    if not errors:
        return BadRequestError(_litestar_detail(exc))
    if sources == {"body"}:
        return ValidationProblem(errors=errors)
    return BadRequestError(N_("Some request parameters are invalid."), errors=errors)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _litestar_detail(exc: HTTPException) -> str | None:
    """Litestar's detail unless it only repeats the status phrase."""
    detail = exc.detail.strip()
    return None if not detail or detail.lower() == _phrase(exc.status_code).lower() else detail


def as_problem(exc: Exception) -> ProblemError:
    """The `ProblemError` a client sees for any exception."""
    if isinstance(exc, ProblemError):
        return exc
    if not isinstance(exc, HTTPException):
        return ProblemError()
    headers = exc.headers or {}
    if isinstance(exc, ValidationException):
        return _litestar_validation_problem(exc)
    if isinstance(exc, NotAuthorizedException):
        return AuthenticationError(headers=headers)
    if isinstance(exc, PermissionDeniedException):
        return PermissionDeniedError(headers=headers)
    if isinstance(exc, NotFoundException):
        return NotFoundError(headers=headers)
    if isinstance(exc, MethodNotAllowedException):
        return MethodNotAllowedError(headers=headers)
    if isinstance(exc, TooManyRequestsException):
        return RateLimitedError(headers=headers)
    if isinstance(exc, RequestEntityTooLarge):
        return PayloadTooLargeError(headers=headers)
    if isinstance(exc, ServiceUnavailableException):
        return ServiceUnavailableError(headers=headers)
    if isinstance(exc, ClientException) and isinstance(exc.__cause__, SerializationException):
        return BadRequestError(N_("The request body could not be decoded: {reason}"), reason=exc.detail)
    if exc.status_code >= 500:
        return ProblemError(headers=headers)
    return HTTPProblem(exc.status_code, _litestar_detail(exc), headers=headers)


def problem_response(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, object]]:
    """Render any exception as problem+json in the request's locale, logging it by severity."""
    problem = as_problem(exc)
    locale = request_locale(request)
    body = problem.to_problem(locale, instance=request.url.path)
    if request_id := current_request_id.get():
        body.setdefault("requestId", request_id)
    _log(problem, exc, request)
    return Response(
        content=body,
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=problem.headers,
    )


def _log(problem: ProblemError, exc: Exception, request: Request[Any, Any, Any]) -> None:
    fields: dict[str, Any] = {"status": problem.status, "code": problem.code, "path": request.url.path}
    expected = isinstance(exc, ProblemError) or (isinstance(exc, HTTPException) and exc.status_code < 500)
    if not expected:
        logger.error("request crashed", exc_info=exc, **fields)
        return
    fields["detail"] = problem.render_detail("en")
    if problem.errors:
        fields["errors"] = render_field_errors(problem.errors, "en")
    if problem.status >= 500:
        logger.warning("request refused", **fields)
    else:
        logger.info("request rejected", **fields)


def problem_exception_handlers() -> ExceptionHandlersMap:
    """Litestar's ``exception_handlers``: everything goes through `problem_response`."""
    return {
        ProblemError: problem_response,
        HTTPException: problem_response,
        Exception: problem_response,
    }
