"""What workflows say about a failure: the message at the bottom of Temporal's failure chain."""

from __future__ import annotations

from temporalio.exceptions import FailureError


def describe_failure(error: BaseException) -> str:
    """The innermost message of a failure chain: what a person (or an operator) can act on."""
    message = str(error)
    current: BaseException | None = error
    while isinstance(current, FailureError):
        message = current.message or message
        current = current.cause
    return message
