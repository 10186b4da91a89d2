"""Telemetry settings (pydantic-settings, ``ONEMAP_*`` environment variables), never read at import time.

Variables
---------
``ONEMAP_MQTT_URL``
    ``mqtt://host:port`` of an existing broker; when set, OneMap starts no broker of its own.
``ONEMAP_MQTT_PORT`` (default 18830)
    Port of the project-managed mosquitto on 127.0.0.1.
``ONEMAP_MQTT_MAX_QUEUED`` (default 1,000,000)
    mosquitto ``max_queued_messages``: QoS 1 messages held per offline or busy
    session beyond those in flight. Beyond it the broker drops new messages
    **silently**, so this is the bound of an outage: at 5,000 readings/s one
    million messages is 200 s of a whole province's feed, or hours of one site.
``ONEMAP_MQTT_MAX_PACKET_BYTES`` (default 1 MiB)
    mosquitto ``max_packet_size``: a larger PUBLISH is refused by the broker,
    which disconnects the publisher (nothing reaches the worker).
``ONEMAP_MQTT_AUTOSAVE_CHANGES`` (default 100)
    Persistence: mosquitto writes its whole snapshot after this many changes
    (``autosave_on_changes``). 1 loses nothing queued on a ``kill -9`` of the
    broker but held ~230 acknowledged messages/s here (every PUBLISH and every
    PUBACK rewrites the file); 100 keeps up with the ingest rate and bounds a
    ``kill -9`` loss to the last < 100 changes not yet delivered to the worker.
    A clean stop (SIGTERM) always saves everything.
``ONEMAP_INGEST_CLIENT_ID`` (default ``onemap-ingest``), ``ONEMAP_INGEST_BATCH`` (default 2000 readings),
``ONEMAP_INGEST_BATCH_MS`` (default 200), ``ONEMAP_INGEST_INFLIGHT`` (default 5000 unacknowledged messages),
``ONEMAP_INGEST_SESSION_EXPIRY_S`` (default 86,400),
``ONEMAP_INGEST_MAX_FUTURE_S`` (default 300: a reading stamped later than this after its arrival is refused).
``ONEMAP_ALARM_FLATLINE_N`` (default 60)
    Identical values in a row that make a flatline (stuck transmitter) alarm.
``ONEMAP_ALARM_OFFLINE_FACTOR`` (default 3)
    A sensor is offline when its newest reading is older than ``interval_s`` × this.
``ONEMAP_ALARM_CHECK_S`` (default 10)
    Seconds between the worker's periodic alarm passes (offline, escalation,
    clearing of acknowledged alarms that returned to normal, alarm → scenario).
``ONEMAP_ALARM_ESCALATE_RED_S`` (300), ``_ORANGE_S`` (900), ``_YELLOW_S`` (1800), ``_BLUE_S`` (3600)
    An alarm not acknowledged this many seconds after it was raised goes up
    from the enterprise to the county; after twice as long to the city.
``ONEMAP_READINGS_KEEP_DAYS`` (optional), ``ONEMAP_READINGS_ARCHIVE_DIR`` (optional)
    With a number of days, the ingest worker prunes older readings itself once
    an hour, in a thread of its own (``telemetry/retention.py``; the same as
    ``onemap telemetry prune``): each day archived to gzip CSV in the archive
    directory first, or dropped without an archive when no directory is set
    and ``ONEMAP_READINGS_ARCHIVE_DIR=none``. Unset: nothing is pruned.
``ONEMAP_WEATHER_URL`` (optional), ``ONEMAP_WEATHER_DEFAULT`` (default ``D,3,45``)
    The weather of an automatic release scenario: a JSON station feed, else the
    default "stability class, wind speed m/s, direction the wind blows from °".
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["TelemetrySettings", "get_telemetry_settings"]


class TelemetrySettings(BaseSettings):
    """Broker address and limits, ingest worker tuning."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_", extra="ignore")

    state_dir: Path = Path(".onemap")
    mqtt_url: str | None = None
    mqtt_port: int = Field(default=18830, ge=1024, le=65535)
    mqtt_max_queued: int = Field(default=1_000_000, ge=1000, le=100_000_000)
    mqtt_max_packet_bytes: int = Field(default=2**20, ge=4096, le=256 * 2**20)
    mqtt_autosave_changes: int = Field(default=100, ge=1, le=1_000_000)
    ingest_client_id: str = Field(default="onemap-ingest", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    ingest_batch: int = Field(default=2000, ge=1, le=50_000)
    ingest_batch_ms: int = Field(default=200, ge=1, le=60_000)
    ingest_inflight: int = Field(default=5000, ge=1, le=65_535)
    ingest_session_expiry_s: int = Field(default=86_400, ge=60, le=2**32 - 1)
    ingest_max_future_s: int = Field(default=300, ge=0, le=86_400)
    alarm_flatline_n: int = Field(default=60, ge=2, le=100_000)
    alarm_offline_factor: float = Field(default=3.0, ge=1.0, le=1000.0)
    alarm_check_s: float = Field(default=10.0, ge=0.1, le=3600.0)
    alarm_escalate_red_s: float = Field(default=300.0, gt=0, le=86_400 * 7)
    alarm_escalate_orange_s: float = Field(default=900.0, gt=0, le=86_400 * 7)
    alarm_escalate_yellow_s: float = Field(default=1800.0, gt=0, le=86_400 * 7)
    alarm_escalate_blue_s: float = Field(default=3600.0, gt=0, le=86_400 * 7)
    readings_keep_days: int | None = Field(default=None, ge=2, le=36_500)
    readings_archive_dir: str | None = None  # a directory, or "none" to drop without archives
    weather_url: str | None = None
    weather_default: str = Field(default="D,3,45", pattern=r"^[A-F],[0-9]+(\.[0-9]+)?,[0-9]+(\.[0-9]+)?$")

    def escalate_after_s(self) -> dict[str, float]:
        """Seconds without acknowledgement before an alarm of each level goes to the county (×2: the city)."""
        return {"red": self.alarm_escalate_red_s, "orange": self.alarm_escalate_orange_s,
                "yellow": self.alarm_escalate_yellow_s, "blue": self.alarm_escalate_blue_s}

    @field_validator("readings_archive_dir")
    @classmethod
    def _archive_dir(cls, v: str | None) -> str | None:
        if v is None or v.strip() == "":
            return None
        return v.strip()

    @model_validator(mode="after")
    def _retention_needs_a_choice(self) -> TelemetrySettings:
        # keeping N days without saying where the archives go is refused: no setting drops readings by surprise
        if self.readings_keep_days is not None and self.readings_archive_dir is None:
            raise ValueError("ONEMAP_READINGS_ARCHIVE_DIR: with ONEMAP_READINGS_KEEP_DAYS, give a directory for "
                             "the archives, or 'none' to drop old readings without one")
        return self

    def retention(self) -> tuple[int, Path | None] | None:
        """(days to keep, archive directory or None to drop without archives), or None: no pruning."""
        if self.readings_keep_days is None or self.readings_archive_dir is None:
            return None
        if self.readings_archive_dir.lower() == "none":
            return self.readings_keep_days, None
        return self.readings_keep_days, Path(self.readings_archive_dir)

    @field_validator("mqtt_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        parts = urlsplit(v)
        if parts.scheme != "mqtt" or not parts.hostname or not parts.port:
            raise ValueError("must look like mqtt://host:port")
        return v

    @property
    def uses_local_broker(self) -> bool:
        """True when OneMap manages its own mosquitto under ``state_dir``."""
        return self.mqtt_url is None

    @property
    def broker_address(self) -> tuple[str, int]:
        """(host, port) of the broker in use."""
        if self.mqtt_url:
            parts = urlsplit(self.mqtt_url)
            return parts.hostname or "127.0.0.1", int(parts.port or 1883)
        return "127.0.0.1", self.mqtt_port

    @property
    def state_path(self) -> Path:
        """Absolute path of the state directory."""
        return self.state_dir.expanduser().resolve()


@lru_cache(maxsize=1)
def get_telemetry_settings() -> TelemetrySettings:
    """The process-wide telemetry settings (env vars, then ``ONEMAP_SETTINGS_FILE`` if given)."""
    env_file = os.environ.get("ONEMAP_SETTINGS_FILE")
    return TelemetrySettings(_env_file=env_file) if env_file else TelemetrySettings()
