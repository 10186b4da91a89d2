"""JSON request bodies checked by pydantic models; a refusal is :class:`~geo.errors.InvalidInput` naming the field.

One conversion for every writer (the catalogue's generic edits, the workflows'
moves): the first error pydantic reports becomes ``field: reason`` with the
field as a dotted path (``strata.0.count``), an unknown field lists the
allowed ones, a missing one says "required". A caller may word an error of
its own through ``explain``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from geo.errors import InvalidInput

__all__ = ["parse_body", "invalid_input"]

M = TypeVar("M", bound=BaseModel)
Explain = Callable[[str, dict], "str | None"]


def invalid_input(exc: ValidationError, model: type[BaseModel], *, explain: Explain | None = None) -> InvalidInput:
    """The first error of ``exc`` as ``InvalidInput(field, reason)``.

    >>> from pydantic import ConfigDict
    >>> class Body(BaseModel):
    ...     model_config = ConfigDict(extra="forbid")
    ...     count: int
    >>> try:
    ...     Body.model_validate({"count": 1, "colour": "red"})
    ... except ValidationError as exc:
    ...     print(invalid_input(exc, Body))
    colour: unknown field; allowed: count
    >>> try:
    ...     Body.model_validate({})
    ... except ValidationError as exc:
    ...     print(invalid_input(exc, Body))
    count: required
    """
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "body"
    reason = explain(loc, err) if explain is not None else None
    if reason is None:
        if err["type"] == "extra_forbidden":
            reason = f"unknown field; allowed: {', '.join(model.model_fields)}"
        elif err["type"] == "missing":
            reason = "required"
        elif err["type"] == "value_error" and "error" in err.get("ctx", {}):
            reason = str(err["ctx"]["error"])  # a validator's own words, without pydantic's "Value error, "
        else:
            reason = err["msg"]
    return InvalidInput(loc, reason)


def parse_body(model: type[M], payload: Any, *, example: str | None = None, explain: Explain | None = None) -> M:
    """``payload`` (decoded JSON) validated by ``model``; :class:`InvalidInput` otherwise.

    ``example`` completes the message when the body is not a JSON object;
    ``explain(field, error)`` may return a better reason for an error, or None.
    """
    if not isinstance(payload, dict):
        raise InvalidInput("body", "must be a JSON object" + (f" such as {example}" if example else ""))
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise invalid_input(exc, model, explain=explain) from None
