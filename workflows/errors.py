"""Exceptions of the workflows. They know nothing about HTTP (``api/errors.py`` maps them once).

Each class also subclasses the matching builtin; every message names the field
and the reason, and lists the valid options where there are any.
"""

from __future__ import annotations

from collections.abc import Sequence

from geo.errors import InvalidInput

__all__ = ["WorkflowError", "IllegalTransition", "WorkflowConflict", "EvidenceTooLarge", "UnsupportedMediaType"]


class WorkflowError(Exception):
    """Base class of the workflow errors that are not plain bad input."""


class WorkflowConflict(WorkflowError, RuntimeError):
    """The request does not fit the row's current state (HTTP 409).

    Parameters
    ----------
    field : str
        The input field at fault.
    reason : str
        Why, in words a user can act on.
    status : str
        The row's current status.
    allowed : sequence of str
        What would be accepted in that status.
    """

    def __init__(self, field: str, reason: str, *, status: str, allowed: Sequence[str] = ()) -> None:
        self.field = field
        self.reason = reason
        self.status = status
        self.allowed = list(allowed)
        super().__init__(f"{field}: {reason}")


class IllegalTransition(WorkflowConflict, ValueError):
    """No edge of the state machine leads from the current status to the one asked for (HTTP 409)."""

    def __init__(self, *, status: str, requested: str, allowed: Sequence[str], thing: str = "a hidden danger"
                 ) -> None:
        options = ", ".join(allowed) if allowed else "none (the loop is finished)"
        super().__init__("to", f"{thing} cannot go from {status!r} to {requested!r}; "
                               f"allowed from {status}: {options}", status=status, allowed=allowed)
        self.requested = requested


class EvidenceTooLarge(InvalidInput):
    """An evidence file over the size cap (HTTP 413)."""


class UnsupportedMediaType(InvalidInput):
    """An evidence file whose content is not of an accepted type, or not the type declared (HTTP 415)."""
