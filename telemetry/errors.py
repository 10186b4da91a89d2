"""Exceptions of the telemetry package. They know nothing about HTTP.

Each class also subclasses the matching builtin so callers may catch either.
"""

from __future__ import annotations

from geo.errors import InvalidInput

__all__ = ["TelemetryError", "BrokerError", "InvalidReading"]


class TelemetryError(Exception):
    """Base class of all ``telemetry`` errors."""


class BrokerError(TelemetryError, RuntimeError):
    """The project-managed mosquitto broker could not be set up, started or stopped."""


class InvalidReading(InvalidInput):
    """A whole request body that cannot be read as readings (HTTP ingest: 422 naming the field)."""
