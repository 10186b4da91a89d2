"""Exceptions of the spatial core. They know nothing about HTTP.

Each class also subclasses the matching builtin so callers may catch either.
Every message names the field and the reason.
"""

from __future__ import annotations

__all__ = [
    "GeoError",
    "InvalidInput",
    "InvalidGeometry",
    "OutsideJurisdiction",
    "UnknownCRS",
    "InvalidUSCC",
    "DatabaseUnavailable",
    "NotFound",
    "NotPermitted",
    "ClusterError",
    "NotAuthenticated",
]


class GeoError(Exception):
    """Base class of all ``geo`` errors."""


class InvalidInput(GeoError, ValueError):
    """A value a caller gave is not acceptable.

    Parameters
    ----------
    field : str
        The input field at fault (dotted path, e.g. ``geometry.coordinates``).
    reason : str
        Why it was refused, in words a user can act on.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class InvalidGeometry(InvalidInput):
    """Geometry that is empty, non-finite, of the wrong type or not valid (OGC)."""


class OutsideJurisdiction(InvalidInput):
    """A place outside China, outside the loaded regions or outside the caller's area."""


class UnknownCRS(InvalidInput):
    """A coordinate reference system OneMap does not accept."""


class InvalidUSCC(InvalidInput):
    """A unified social credit code (统一社会信用代码) that fails GB 32100-2015."""


class NotFound(GeoError, LookupError):
    """No such row (or not one the caller may see)."""


class NotPermitted(GeoError, PermissionError):
    """The caller's jurisdiction or role does not allow this write."""


class DatabaseUnavailable(GeoError, ConnectionError):
    """The database cannot be reached."""


class ClusterError(GeoError, RuntimeError):
    """The project-managed local PostgreSQL cluster could not be set up or started."""


class NotAuthenticated(GeoError, PermissionError):
    """The credentials no longer hold (user disabled, locked out of its role or jurisdiction): HTTP 401."""
