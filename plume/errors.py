"""Domain exceptions of the plume package.

Every class subclasses :class:`PlumeError` and the matching builtin
(``ValueError`` or ``KeyError``), so callers that know nothing about plume can
still catch them, and the API layer can map the whole tree to HTTP 4xx in one
place. Messages name the field and the reason.
"""

from __future__ import annotations

__all__ = [
    "PlumeError",
    "InvalidParameter",
    "UnknownStabilityClass",
    "UnknownChemical",
    "MissingProperty",
    "NoProbit",
    "SourceTermError",
    "GridTooLarge",
    "describe",
]


class PlumeError(Exception):
    """Base class of every error raised on purpose by :mod:`plume`."""


class InvalidParameter(PlumeError, ValueError):
    """A parameter is out of range, not finite, or inconsistent with another.

    Parameters
    ----------
    field : str
        Name of the offending parameter (as the caller spelled it).
    reason : str
        Why the value is refused.
    """

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class UnknownStabilityClass(InvalidParameter):
    """A Pasquill stability class other than ``"A"`` … ``"F"``."""

    def __init__(self, value: object, field: str = "stability"):
        super().__init__(field, f"unknown Pasquill stability class {value!r}; "
                                "valid classes are A, B, C, D, E, F")


class UnknownChemical(PlumeError, KeyError):
    """A chemical name or CAS number that the reference table does not hold."""

    def __init__(self, name: str, close_matches: list[str] | None = None,
                 field: str = "chemical"):
        self.field = field
        self.name = name
        self.close_matches = list(close_matches or [])
        hint = (f"; did you mean: {', '.join(self.close_matches)}?"
                if self.close_matches else "")
        self.message = f"{field}: unknown chemical {name!r}{hint}"
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.message


class MissingProperty(PlumeError, KeyError):
    """A physical property needed by a calculation is not available."""

    def __init__(self, chemical: str, prop: str, why: str = ""):
        self.message = (f"chemical: no {prop} available for {chemical!r}"
                        + (f" ({why})" if why else ""))
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class NoProbit(MissingProperty):
    """No verified lethality probit is on file for a chemical."""

    def __init__(self, chemical: str):
        super().__init__(chemical, "verified lethality probit",
                         "see reference/probits.csv: only VERIFIED rows are used")


class SourceTermError(InvalidParameter):
    """A source-term formula is asked to work outside its domain."""


class GridTooLarge(InvalidParameter):
    """The receptor grid asked for would not fit in memory or time limits."""


def describe(exc: BaseException) -> str:
    """One line that names the field and the reason, for CLIs and logs.

    Understands pydantic ``ValidationError`` (first error only, with its
    location) and every :class:`PlumeError`.

    Examples
    --------
    >>> describe(InvalidParameter("wind_speed_m_s", "must be > 0"))
    'wind_speed_m_s: must be > 0'
    >>> describe(UnknownChemical("chlorin", ["chlorine"]))
    "chemical: unknown chemical 'chlorin'; did you mean: chlorine?"
    """
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            items = errors()
        except TypeError:  # not a pydantic error after all
            items = None
        if items:
            first = items[0]
            loc = ".".join(str(p) for p in first.get("loc", ()) if p != "__root__")
            msg = str(first.get("msg", exc)).removeprefix("Value error, ")
            more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
            return f"{loc or 'input'}: {msg}{more}"
    return str(exc)
