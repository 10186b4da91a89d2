"""The project-managed mosquitto broker (``onemap telemetry broker start|stop|status``).

Like :mod:`geo.pgcluster` for PostgreSQL: it installs nothing (Debian's
``mosquitto`` package, installed by ``scripts/setup.sh``), writes its own
``mosquitto.conf`` under ``<state_dir>/mosquitto/`` and runs the broker as a
process of its own (never the distribution's service), listening on
**127.0.0.1 only**. Run as root, mosquitto drops to the unprivileged
``mosquitto`` user, which owns the persistence directory.

Settings that matter for no loss (docs/TELEMETRY.md, RELIABILITY.md):

* ``persistence true`` with ``autosave_on_changes true`` and
  ``autosave_interval`` = ``ONEMAP_MQTT_AUTOSAVE_CHANGES`` (100): the queue of
  an offline session is on disk after every 100 changes (1 would lose nothing
  on ``kill -9`` but rewrites the file twice per message: ~230 messages/s);
* ``max_queued_messages`` (``ONEMAP_MQTT_MAX_QUEUED``): mosquitto's default of
  1000 drops messages silently beyond it; ours is the documented outage bound;
* ``max_packet_size`` (``ONEMAP_MQTT_MAX_PACKET_BYTES``, 1 MiB): a larger
  PUBLISH makes the broker disconnect the publisher;
* ``allow_anonymous true`` on the loopback listener only: whoever can reach
  127.0.0.1 is on this machine. A broker that sites reach over a network is an
  operated one (``ONEMAP_MQTT_URL``) with TLS and passwords.

Start and stop are idempotent; ``start`` returns once the port accepts.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from telemetry.errors import BrokerError
from telemetry.settings import TelemetrySettings

__all__ = ["LocalBroker", "port_open", "wait_port"]

_APT_HINT = "install Debian's mosquitto package (scripts/setup.sh does this as root)"
_RUN_AS = "mosquitto"


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Whether a TCP connection to (host, port) succeeds now."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def wait_port(host: str, port: int, timeout_s: float = 15.0) -> bool:
    """Wait until (host, port) accepts connections; False on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_open(host, port):
            return True
        time.sleep(0.05)
    return False


def _find_binary() -> Path:
    for cand in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if cand and Path(cand).exists():
            return Path(cand)
    raise BrokerError(f"mosquitto not found: {_APT_HINT}")


class LocalBroker:
    """Life cycle of the local broker under ``<state_dir>/mosquitto`` (or ``home``)."""

    def __init__(self, settings: TelemetrySettings, *, home: Path | None = None, port: int | None = None) -> None:
        self.settings = settings
        self.home = (home or settings.state_path / "mosquitto").resolve()
        self.port = port or settings.mqtt_port
        self.host = "127.0.0.1"
        self.conf_file = self.home / "mosquitto.conf"
        self.pid_file = self.home / "mosquitto.pid"
        self.log_file = self.home / "mosquitto.log"
        self._run_as = _RUN_AS if os.geteuid() == 0 and _user_exists(_RUN_AS) else None

    @property
    def data_dir(self) -> Path:
        """Persistence directory (may be a symlink to one the ``mosquitto`` user can reach)."""
        return self.home / "data"

    # --- files -----------------------------------------------------------------
    def _prepare_data_dir(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        if self.data_dir.exists() or self.data_dir.is_symlink():
            return
        self.data_dir.mkdir(mode=0o700)
        if not self._run_as:
            return
        pw = pwd.getpwnam(self._run_as)
        os.chown(self.data_dir, pw.pw_uid, pw.pw_gid)
        probe = subprocess.run(["runuser", "-u", self._run_as, "--", "test", "-w", str(self.data_dir)])
        if probe.returncode != 0:  # a parent directory the broker's user cannot traverse
            self.data_dir.rmdir()
            key = hashlib.sha1(str(self.home).encode()).hexdigest()[:12]
            target = Path("/var/lib/onemap") / f"mosquitto-{key}"
            target.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chown(target, pw.pw_uid, pw.pw_gid)
            self.data_dir.symlink_to(target)

    def config_text(self) -> str:
        """The ``mosquitto.conf`` this broker runs with."""
        s = self.settings
        lines = [
            "# Written by OneMap (telemetry/broker.py) on every start: edit the ONEMAP_MQTT_* settings instead.",
            "per_listener_settings false",
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {self.data_dir.resolve()}/",
            "persistence_file mosquitto.db",
            "autosave_on_changes true",
            f"autosave_interval {s.mqtt_autosave_changes}",
            f"max_queued_messages {s.mqtt_max_queued}",
            "max_queued_bytes 0",
            "max_inflight_messages 0",
            f"max_packet_size {s.mqtt_max_packet_bytes}",
            "set_tcp_nodelay true",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_timestamp true",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]
        if self._run_as:
            lines.append(f"user {self._run_as}")
        return "\n".join(lines) + "\n"

    # --- state -----------------------------------------------------------------
    def pid(self) -> int | None:
        """The pid of our running mosquitto, or None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        if not cmdline or not cmdline[0].endswith(b"mosquitto") or str(self.conf_file).encode() not in cmdline:
            return None
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":  # exited, not yet reaped
            return None
        return pid

    def status(self) -> str:
        """``running`` or ``stopped``."""
        return "running" if self.pid() is not None else "stopped"

    # --- life cycle ------------------------------------------------------------
    def start(self, timeout_s: float = 15.0) -> bool:
        """Start the broker unless it runs; wait until the port accepts. False when it was running."""
        if self.pid() is not None:
            if not wait_port(self.host, self.port, timeout_s):
                raise BrokerError(f"mosquitto runs (pid {self.pid()}) but 127.0.0.1:{self.port} does not accept")
            return False
        binary = _find_binary()
        if port_open(self.host, self.port, 0.2):
            raise BrokerError(f"ONEMAP_MQTT_PORT: 127.0.0.1:{self.port} is taken by another process")
        self._prepare_data_dir()
        tmp = self.conf_file.with_suffix(".tmp")
        tmp.write_text(self.config_text())
        tmp.replace(self.conf_file)
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen([str(binary), "-c", str(self.conf_file)], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log, start_new_session=True, close_fds=True)
        self.pid_file.write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BrokerError(f"mosquitto exited with code {proc.returncode}: {self._log_tail()}")
            if port_open(self.host, self.port, 0.2):
                return True
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"mosquitto did not accept on 127.0.0.1:{self.port} in {timeout_s:.0f} s: {self._log_tail()}")

    def stop(self, timeout_s: float = 15.0, *, kill: bool = False) -> bool:
        """Stop the broker (SIGTERM: it saves its persistence file; ``kill``: SIGKILL). False when not running."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            _reap(pid)
            if self.pid() is None:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
            _reap(pid)
        deadline = time.monotonic() + timeout_s  # the port closes with the process
        while port_open(self.host, self.port, 0.2) and time.monotonic() < deadline:
            time.sleep(0.05)
        return True

    def _log_tail(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-600:].strip()
        except OSError:
            return ""


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _reap(pid: int) -> None:
    """Collect the exit status when the broker is our own child (tests start it in-process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
