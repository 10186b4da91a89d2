"""The project-managed local PostgreSQL 15 + PostGIS cluster (``onemap db up``).

It installs nothing: it finds PostgreSQL's binaries (Debian's
``postgresql-15`` + ``postgresql-15-postgis-3``), runs ``initdb`` under
``<state_dir>/pg`` and starts the server listening on 127.0.0.1 only. Run as
root, the server runs as the unprivileged ``postgres`` user (``runuser``),
because ``initdb`` refuses root. Credentials are generated once and kept in
``<state_dir>/secrets.json`` (mode 600).

Roles (see ``docs/OPERATIONS.md``):

* ``onemap_super`` — the cluster's bootstrap superuser; used only to create
  roles, databases and the PostGIS extension.
* owner role (``onemap_owner``) — owns the database and tables, runs migrations.
* app role (``onemap_app``) — serves requests; owns nothing, ``NOBYPASSRLS``.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import psycopg
from psycopg import sql

from geo.errors import ClusterError
from geo.settings import Settings

__all__ = ["LocalCluster", "Credentials", "bootstrap_database", "ensure_roles"]

SUPERUSER = "onemap_super"
_PG_MAJOR = "15"
_APT_HINT = "install Debian's postgresql-15 and postgresql-15-postgis-3 (make demo/test does this as root)"


@dataclass(frozen=True)
class Credentials:
    """Generated passwords of the local cluster's roles."""

    superuser: str
    owner: str
    app: str


def _is_bin_dir(path: Path) -> bool:
    return (path / "initdb").exists() and (path / "pg_ctl").exists()


def _find_bin_dir(settings: Settings) -> Path:
    """``ONEMAP_PG_BIN``, else Debian's directory, else ``pg_config --bindir`` (run only when needed)."""
    for cand in (settings.pg_bin, Path(f"/usr/lib/postgresql/{_PG_MAJOR}/bin")):
        if cand and _is_bin_dir(cand):
            return cand
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if out.returncode == 0 and _is_bin_dir(cand := Path(out.stdout.strip())):
            return cand
    raise ClusterError(f"PostgreSQL {_PG_MAJOR} binaries (initdb, pg_ctl) not found: {_APT_HINT}")


def _check_postgis(bin_dir: Path) -> None:
    share = None
    pg_config = bin_dir / "pg_config"
    if pg_config.exists():
        out = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True)
        if out.returncode == 0:
            share = Path(out.stdout.strip())
    share = share or Path(f"/usr/share/postgresql/{_PG_MAJOR}")
    if not (share / "extension" / "postgis.control").exists():
        raise ClusterError(f"PostGIS extension not found under {share}/extension: {_APT_HINT}")


class LocalCluster:
    """Life cycle of the local cluster under ``settings.state_path``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state = settings.state_path
        self.port = settings.pg_port
        self.secrets_file = self.state / "secrets.json"
        self.log_file = self.state / "pg.log"
        self._run_as = "postgres" if os.geteuid() == 0 else None

    # --- paths -----------------------------------------------------------------
    @cached_property
    def bin_dir(self) -> Path:
        """PostgreSQL's bin directory (looked up once per :class:`LocalCluster`)."""
        return _find_bin_dir(self.settings)

    @property
    def data_dir(self) -> Path:
        """``<state>/pg`` (may be a symlink to a directory the server user can reach)."""
        return self.state / "pg"

    @property
    def socket_dir(self) -> Path:
        return self.data_dir / "run"

    # --- helpers ---------------------------------------------------------------
    def _cmd(self, args: list[str]) -> list[str]:
        if self._run_as:
            return ["runuser", "-u", self._run_as, "--", *args]
        return args

    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(self._cmd(args), capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise ClusterError(f"{' '.join(args[:2])} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def credentials(self) -> Credentials:
        """The stored credentials, created on first use."""
        if self.secrets_file.exists():
            data = json.loads(self.secrets_file.read_text())
            return Credentials(**data)
        self.state.mkdir(parents=True, exist_ok=True)
        creds = Credentials(
            superuser=secrets.token_urlsafe(24),
            owner=secrets.token_urlsafe(24),
            app=self.settings.app_password or secrets.token_urlsafe(24),
        )
        tmp = self.secrets_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(creds.__dict__, fh)
        tmp.replace(self.secrets_file)
        return creds

    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def status(self) -> str:
        """``running``, ``stopped`` or ``absent`` (never initialised)."""
        if not self.is_initialised():
            return "absent"
        proc = self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "status"], check=False)
        return "running" if proc.returncode == 0 else "stopped"

    def _prepare_data_dir(self) -> None:
        """Create ``<state>/pg`` so that the server user can reach it.

        As root, the server runs as ``postgres``, which must be able to traverse
        every parent directory. When it cannot (a checkout under a private home),
        the data lives under ``/var/lib/onemap/<hash>`` and ``<state>/pg`` is a
        symlink to it.
        """
        self.state.mkdir(parents=True, exist_ok=True)
        if self.data_dir.exists() or self.data_dir.is_symlink():
            return
        if not self._run_as:
            self.data_dir.mkdir(mode=0o700)
            return
        pw = pwd.getpwnam(self._run_as)
        self.data_dir.mkdir(mode=0o700)
        os.chown(self.data_dir, pw.pw_uid, pw.pw_gid)
        probe = subprocess.run(self._cmd(["test", "-w", str(self.data_dir)]))
        if probe.returncode != 0:
            self.data_dir.rmdir()
            key = hashlib.sha1(str(self.state).encode()).hexdigest()[:12]
            target = Path("/var/lib/onemap") / key
            target.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chown(target, pw.pw_uid, pw.pw_gid)
            self.data_dir.symlink_to(target)

    def _initdb(self, bin_dir: Path, creds: Credentials) -> None:
        self._prepare_data_dir()
        pwfile = self.state / ".pwfile"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "w") as fh:
            fh.write(creds.superuser + "\n")
        try:
            self._run([
                str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
                f"--pwfile={pwfile}", "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
                "-E", "UTF8", "--no-locale",
            ])
        finally:
            pwfile.unlink(missing_ok=True)
        self._run(["mkdir", "-p", str(self.socket_dir)])
        conf = (
            "\n# --- OneMap local cluster ---\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {self.port}\n"
            f"unix_socket_directories = '{self.socket_dir}'\n"
            "max_connections = 100\n"
            "shared_buffers = 256MB\n"
            "work_mem = 16MB\n"
            "maintenance_work_mem = 256MB\n"
            "timezone = 'UTC'\n"
            "jit = off\n"
            "log_min_messages = warning\n"
        )
        # append through the server user so file ownership stays right
        proc = subprocess.run(
            self._cmd(["sh", "-c", f"cat >> '{self.data_dir}/postgresql.conf'"]),
            input=conf, text=True, capture_output=True,
        )
        if proc.returncode != 0:
            raise ClusterError(f"could not write postgresql.conf: {proc.stderr.strip()}")

    def _start(self, bin_dir: Path) -> None:
        log = self.log_file
        if self._run_as:
            log.touch(exist_ok=True)
            pw = pwd.getpwnam(self._run_as)
            os.chown(log, pw.pw_uid, pw.pw_gid)
        proc = self._run(
            [str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(log), "-w", "-t", "60", "start"],
            check=False,
        )
        if proc.returncode != 0:
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            raise ClusterError(f"PostgreSQL did not start on 127.0.0.1:{self.port}: {tail.strip()}")

    def superuser_dsn(self, dbname: str = "postgres") -> str:
        """libpq connection string of the bootstrap superuser (TCP, 127.0.0.1)."""
        creds = self.credentials()
        return psycopg.conninfo.make_conninfo(
            host="127.0.0.1", port=self.port, user=SUPERUSER, password=creds.superuser, dbname=dbname
        )

    def up(self) -> None:
        """Initialise (first time), start (if stopped) and bootstrap roles and database.

        Idempotent and quick when the cluster is already running.
        """
        bin_dir = self.bin_dir
        _check_postgis(bin_dir)
        creds = self.credentials()
        if not self.is_initialised():
            self._initdb(bin_dir, creds)
        if self.status() != "running":
            self._start(bin_dir)
        self._wait_ready()
        with psycopg.connect(self.superuser_dsn(), autocommit=True) as conn:
            ensure_roles(conn, self.settings, owner_password=creds.owner, app_password=creds.app)
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.settings.db_name,)
            ).fetchone()
            if not exists:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(self.settings.db_name), sql.Identifier(self.settings.owner_role)
                    )
                )
        with psycopg.connect(self.superuser_dsn(self.settings.db_name), autocommit=True) as conn:
            bootstrap_database(conn, self.settings)

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.superuser_dsn(), connect_timeout=3):
                    return
            except psycopg.OperationalError as exc:
                last = exc
                time.sleep(0.2)
        raise ClusterError(f"PostgreSQL on 127.0.0.1:{self.port} is not accepting connections: {last}")

    def down(self) -> bool:
        """Stop the server (fast shutdown). Returns False when it was not running."""
        if self.status() != "running":
            return False
        self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])
        return True


def ensure_roles(conn: psycopg.Connection, settings: Settings, *, owner_password: str | None,
                 app_password: str | None) -> None:
    """Create (or fix) the owner and app roles. Needs CREATEROLE; autocommit connection.

    The app role is always ``NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE``.
    """
    for role, password, extra in (
        (settings.owner_role, owner_password, "NOSUPERUSER NOBYPASSRLS NOCREATEROLE"),
        (settings.app_role, app_password, "NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"),
    ):
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        stmt = sql.SQL("{} ROLE {} LOGIN " + extra).format(sql.SQL(verb), sql.Identifier(role))
        if password is not None:
            stmt = sql.SQL("{} PASSWORD {}").format(stmt, sql.Literal(password))
        conn.execute(stmt)
    # JIT compilation costs 100+ ms per query and buys nothing for short requests
    conn.execute(sql.SQL("ALTER ROLE {} SET jit = off").format(sql.Identifier(settings.app_role)))


def bootstrap_database(conn: psycopg.Connection, settings: Settings) -> None:
    """Superuser steps inside one database: PostGIS and schema privileges.

    Run on an autocommit connection to that database.
    """
    conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    # Under row-level security the planner only uses an index for a LEAKPROOF
    # operator: without this, every bbox and KNN query of the app role is a
    # sequential scan (measured: 20 ms seq scan vs 0.7 ms index scan on 20,000
    # points). The bounding-box operators reveal nothing about other rows.
    for fn in ("geometry_overlaps(geometry, geometry)", "geometry_distance_centroid(geometry, geometry)"):
        conn.execute(f"ALTER FUNCTION {fn} LEAKPROOF")
    conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    conn.execute(sql.SQL("GRANT CREATE, USAGE ON SCHEMA public TO {}").format(sql.Identifier(settings.owner_role)))
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(settings.app_role)))
    dbname = conn.info.dbname
    conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
        sql.Identifier(dbname), sql.Identifier(settings.app_role)))
