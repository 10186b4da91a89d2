"""Live change events from PostgreSQL ``NOTIFY`` and per-table data versions.

The database sends one notification per written row (statements of up to 50
rows) or one summary per statement (bigger ones) on the channel
``onemap_events``, and bumps the table's row in ``data_versions`` (migration
0004). This module turns the notifications into :class:`Event` objects, decides
who may see them (:func:`visible_to`, the Python twin of the SQL function
``onemap_visible``) and fans them out from one :class:`Listener` connection to
many subscribers (the ``/events`` Server-Sent Events stream, cache
invalidation).

Nothing is replayed: a notification sent while the listener was disconnected
is lost, so after every reconnect subscribers receive a ``resync`` event and
should refetch what they show. The same happens when a subscriber's queue
overflows.

Threads: the listener owns one psycopg connection in autocommit mode, used by
one daemon thread only. Subscriptions are fed from that thread; an asyncio
consumer is woken with ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import psycopg
from psycopg import sql

from geo.context import RequestContext
from geo.errors import InvalidInput

__all__ = [
    "CHANNEL", "ENTITIES", "KINDS", "RESYNC", "Event", "parse", "visible_to", "parse_kinds",
    "Listener", "Subscription",
]

log = logging.getLogger(__name__)

CHANNEL = "onemap_events"
RESYNC = "resync"
# tracked table -> entity name used in kinds (migration 0004)
ENTITIES: Mapping[str, str] = MappingProxyType({
    "enterprises": "enterprise", "hazard_units": "hazard_unit",
    "hazard_unit_inventory": "hazard_unit_inventory", "hidden_dangers": "hidden_danger",
    "protection_targets": "protection_target", "rescue_teams": "rescue_team",
    "supply_depots": "supply_depot", "depot_stock": "depot_stock", "sensors": "sensor",
    "scenarios": "scenario", "regions": "region",
    # migration 0011: double-random inspections
    "inspectors": "inspector", "inspection_draws": "inspection_draw", "inspection_tasks": "inspection_task",
    "inspection_findings": "inspection_finding",
    # migration 0012: credit and blacklist
    "credit_events": "credit_event", "credit_scores": "credit_score", "blacklist_entries": "blacklist_entry",
    # migration 0010: accident quick reports
    "accident_reports": "accident_report",
    # migration 0014: telemetry alarms
    "alarms": "alarm",
})
# tables whose rows belong to an enterprise (onemap_visible gets a non-NULL enterprise)
_ENTERPRISE_LINKED = frozenset({"enterprises", "hazard_units", "hazard_unit_inventory", "hidden_dangers",
                                "sensors", "inspection_tasks", "inspection_findings", "credit_events",
                                "credit_scores", "blacklist_entries", "accident_reports", "alarms"})
# enterprise-linked rows an enterprise user sees only once public (an unannounced inspection's task, 0011)
_ENTERPRISE_ONCE_PUBLIC = frozenset({"inspection_tasks"})
_SOFT_DELETED = frozenset({"enterprises", "hazard_units", "hidden_dangers", "protection_targets",
                           "rescue_teams", "supply_depots", "sensors", "scenarios", "inspection_draws",
                           "inspection_tasks", "credit_events", "accident_reports"})


def _kinds() -> frozenset[str]:
    kinds = {RESYNC, "hidden_danger.status_changed", "enterprise.risk_colour_changed",
             "accident_report.status_changed", "accident_report.closed",
             # migration 0014: an alarm's insert is alarm.raised, its moves are named after the new state
             "alarm.raised", "alarm.acknowledged", "alarm.handled", "alarm.cleared", "alarm.escalated",
             # migration 0016: a user's rights changed (bumps the users' version; names no place, never delivered)
             "user.bulk"}
    for table, entity in ENTITIES.items():
        kinds.update(f"{entity}.{verb}" for verb in ("created", "updated", "bulk"))
        if table in _SOFT_DELETED:
            kinds.add(f"{entity}.deleted")
    return frozenset(kinds)


KINDS: frozenset[str] = _kinds()
"""Every kind the database sends, plus ``resync``."""

_KIND = re.compile(r"^[a-z_]{1,40}\.[a-z_]{1,40}$")
_TABLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_ADCODE = re.compile(r"^\d{2,6}$")


@dataclass(frozen=True)
class Event:
    """One change, as the database announced it.

    Attributes (payload key in brackets): ``table`` [t], ``op`` [op]
    (INSERT, UPDATE, or RESYNC for a resync marker), ``kind`` [k]
    (``hidden_danger.created`` …), ``version`` [v] (the table's data version
    after the statement), ``id`` [id] (row key: an integer, or the adcode for
    regions), ``adcode`` [a] (county), ``enterprise_id`` [e], ``is_public`` [p],
    ``display`` [d] (name/title, status, risk_colour, level where present).
    Summaries of big statements (``bulk``) carry ``count`` [n] and ``adcodes``
    [a] (distinct counties, or city/province prefixes when there are over 300)
    instead of one row. ``seq`` is the listener's running number (the SSE id).
    """

    table: str
    op: str
    kind: str
    version: int
    id: int | str | None = None
    adcode: str | None = None
    enterprise_id: int | None = None
    is_public: bool = False
    display: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    bulk: bool = False
    count: int = 1
    adcodes: tuple[str, ...] = ()
    seq: int = 0

    @property
    def is_resync(self) -> bool:
        """True for the marker that says "events may have been missed: refetch"."""
        return self.kind == RESYNC

    @classmethod
    def resync(cls, reason: str, seq: int = 0) -> Event:
        """A resync marker (``reason``: reconnected, overflow)."""
        return cls(table="", op="RESYNC", kind=RESYNC, version=0, is_public=True,
                   display=MappingProxyType({"reason": reason}), seq=seq)

    def to_payload(self) -> dict[str, Any]:
        """The compact JSON object (same keys as the database payload)."""
        if self.is_resync:
            return {"k": RESYNC, **self.display}
        if self.bulk:
            return {"t": self.table, "op": self.op, "n": self.count, "v": self.version, "k": self.kind,
                    "p": self.is_public, "a": list(self.adcodes)}
        return {"t": self.table, "op": self.op, "id": self.id, "a": self.adcode, "e": self.enterprise_id,
                "p": self.is_public, "k": self.kind, "v": self.version, "d": dict(self.display)}

    def to_json(self) -> str:
        """:meth:`to_payload` as compact JSON (UTF-8 text, no spaces)."""
        return json.dumps(self.to_payload(), ensure_ascii=False, separators=(",", ":"))

    def to_sse(self) -> str:
        r"""The Server-Sent Events block: ``id:`` (when numbered), ``event:`` kind, ``data:`` JSON.

        >>> print(Event.resync("overflow", seq=7).to_sse(), end="")
        id: 7
        event: resync
        data: {"k":"resync","reason":"overflow"}
        <BLANKLINE>
        """
        head = f"id: {self.seq}\n" if self.seq else ""
        return f"{head}event: {self.kind}\ndata: {self.to_json()}\n\n"


def _bad(reason: str) -> InvalidInput:
    return InvalidInput("payload", reason)


def _reject_constant(name: str) -> Any:
    raise _bad(f"non-finite number {name}")


def _int(obj: Mapping, key: str, *, optional: bool = False) -> int | None:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad(f"{key!r} must be an integer, got {value!r}")
    return value


def parse(payload: str) -> Event:
    """Parse a notification payload of the ``onemap_events`` channel.

    Raises :class:`geo.errors.InvalidInput` (field ``payload``) for anything
    that is not a well-formed event.

    >>> e = parse('{"t":"hidden_dangers","op":"INSERT","id":7,"a":"330211","e":3,"p":false,'
    ...           '"k":"hidden_danger.created","v":12,"d":{"title":"消防通道堵塞"}}')
    >>> (e.kind, e.id, e.adcode, e.enterprise_id, e.version, e.display["title"])
    ('hidden_danger.created', 7, '330211', 3, 12, '消防通道堵塞')
    >>> parse('{"t":"sensors","op":"UPDATE","n":900,"v":4,"k":"sensor.bulk","p":false,"a":["330211"]}').count
    900
    >>> parse('[]')
    Traceback (most recent call last):
    ...
    geo.errors.InvalidInput: payload: must be a JSON object
    """
    try:
        obj = json.loads(payload, parse_constant=_reject_constant)
    except ValueError as exc:
        if isinstance(exc, InvalidInput):
            raise
        raise _bad(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise _bad("must be a JSON object")
    table, op, kind = obj.get("t"), obj.get("op"), obj.get("k")
    if not isinstance(table, str) or not _TABLE.match(table):
        raise _bad(f"'t' must be a table name, got {table!r}")
    if op not in ("INSERT", "UPDATE"):
        raise _bad(f"'op' must be INSERT or UPDATE, got {op!r}")
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise _bad(f"'k' must look like entity.verb, got {kind!r}")
    version = _int(obj, "v")
    is_public = obj.get("p", False)
    if not isinstance(is_public, bool):
        raise _bad(f"'p' must be true or false, got {is_public!r}")
    if "n" in obj:
        codes = obj.get("a")
        if not isinstance(codes, list) or not all(isinstance(c, str) and _ADCODE.match(c) for c in codes):
            raise _bad("'a' of a summary must be a list of adcodes or adcode prefixes")
        return Event(table=table, op=op, kind=kind, version=version, is_public=is_public, bulk=True,
                     count=_int(obj, "n"), adcodes=tuple(codes))
    row_id = obj.get("id")
    if not (row_id is None or isinstance(row_id, str) or (isinstance(row_id, int) and not isinstance(row_id, bool))):
        raise _bad(f"'id' must be an integer or a string, got {row_id!r}")
    adcode = obj.get("a")
    if adcode is not None and not (isinstance(adcode, str) and _ADCODE.match(adcode)):
        raise _bad(f"'a' must be an adcode, got {adcode!r}")
    display = obj.get("d") or {}
    if not isinstance(display, dict):
        raise _bad("'d' must be an object")
    return Event(table=table, op=op, kind=kind, version=version, id=row_id, adcode=adcode,
                 enterprise_id=_int(obj, "e", optional=True), is_public=is_public,
                 display=MappingProxyType(display))


def _adcode_match(jurisdiction: str, codes: Iterable[str]) -> bool:
    # entries are counties, or city/province prefixes when a statement touched > 300 counties
    return any(c.startswith(jurisdiction) or jurisdiction.startswith(c) for c in codes)


def visible_to(ctx: RequestContext, event: Event) -> bool:
    """May ``ctx`` see ``event``? The Python twin of SQL ``onemap_visible(adcode, enterprise, public)``.

    * ``public`` role: public rows only;
    * ``enterprise`` role: its own enterprise's rows; public rows of tables
      whose rows belong to no enterprise;
    * every other role: rows whose county adcode starts with the jurisdiction.

    Regions and resync markers are visible to all. Summaries of big statements
    (``bulk``) carry no row list: a jurisdiction sees one when any listed
    adcode lies inside it; the public role when any row was public; an
    enterprise user on enterprise tables when the statement touched its
    county (the summary says only "n rows changed": refetch).

    >>> ctx = RequestContext(role="county", jurisdiction="330211", actor="t")
    >>> visible_to(ctx, Event("hidden_dangers", "INSERT", "hidden_danger.created", 1, 5, "330211", 9))
    True
    >>> visible_to(ctx, Event("hidden_dangers", "INSERT", "hidden_danger.created", 1, 6, "330106", 9))
    False
    """
    if event.is_resync or event.table == "regions":
        return True
    role = ctx.role
    if role == "enterprise" and event.table in _ENTERPRISE_ONCE_PUBLIC and not event.is_public:
        return False
    if event.bulk:
        if role == "public":
            return event.is_public
        if role == "enterprise" and event.table not in _ENTERPRISE_LINKED:
            return event.is_public
        return _adcode_match(ctx.jurisdiction, event.adcodes)
    if role == "public":
        return event.is_public
    if role == "enterprise":
        if event.enterprise_id is None:
            return event.is_public
        return event.enterprise_id == ctx.enterprise_id
    return event.adcode is not None and event.adcode.startswith(ctx.jurisdiction)


def parse_kinds(value: str | None, *, field_name: str = "kinds") -> tuple[str, ...]:
    """Parse a comma-separated list of kind prefixes (``hidden_danger.,enterprise.``).

    Each prefix must start at least one known kind; an empty value means all.

    >>> parse_kinds("hidden_danger., enterprise.risk_colour_changed")
    ('hidden_danger.', 'enterprise.risk_colour_changed')
    >>> parse_kinds("hidden_dangers.")
    Traceback (most recent call last):
    ...
    geo.errors.InvalidInput: kinds: unknown kind prefix 'hidden_dangers.'; use entity prefixes such as hidden_danger., enterprise., or full kinds: ...
    """
    if value is None or not value.strip():
        return ()
    if len(value) > 1000:
        raise InvalidInput(field_name, "over 1000 characters")
    prefixes = tuple(dict.fromkeys(p.strip() for p in value.split(",") if p.strip()))
    for prefix in prefixes:
        if not any(kind.startswith(prefix) for kind in KINDS):
            entities = ", ".join(f"{e}." for e in sorted(set(ENTITIES.values())))
            raise InvalidInput(field_name, f"unknown kind prefix {prefix!r}; use entity prefixes such as "
                                           f"hidden_danger., enterprise., or full kinds: {entities}")
    return prefixes


class Subscription:
    """A bounded queue of the events one subscriber may see (made by :meth:`Listener.subscribe`).

    Fed by the listener thread. Read with ``await sub.next(timeout)`` from the
    event loop it was created on, or ``sub.get(timeout)`` from a thread. Both
    return None on timeout or once the subscription is closed (check
    :attr:`closed`). When the queue is full the oldest event is dropped and the
    next read returns a ``resync`` marker first.
    """

    def __init__(self, listener: Listener, ctx: RequestContext, *, kinds: tuple[str, ...] = (),
                 maxsize: int = 1000, loop: asyncio.AbstractEventLoop | None = None) -> None:
        if maxsize < 1:
            raise InvalidInput("maxsize", "must be at least 1")
        self.ctx = ctx
        self.kinds = kinds
        self.maxsize = maxsize
        self.dropped = 0
        self._listener = listener
        self._items: deque[Event] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._overflow = False
        self._closed = False
        self._loop = loop
        self._wake = asyncio.Event() if loop is not None else None

    @property
    def closed(self) -> bool:
        """True after :meth:`close` (or the listener's stop)."""
        return self._closed

    def accepts(self, event: Event) -> bool:
        """Resync markers always; otherwise the kind filter and :func:`visible_to`."""
        if event.is_resync:
            return True
        if self.kinds and not event.kind.startswith(self.kinds):
            return False
        return visible_to(self.ctx, event)

    def offer(self, event: Event) -> None:
        """Queue ``event`` (any thread). Drops the oldest event when full."""
        with self._cond:
            if self._closed:
                return
            was_empty = not self._items and not self._overflow
            if len(self._items) >= self.maxsize:
                self._items.popleft()
                self._overflow = True
                self.dropped += 1
            self._items.append(event)
            self._cond.notify_all()
        if was_empty:
            self._wake_loop()

    def close(self) -> None:
        """End the subscription: readers get None from now on."""
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()
        self._wake_loop()

    def _wake_loop(self) -> None:
        if self._loop is None or self._wake is None:
            return
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting
            self._loop.call_soon_threadsafe(self._wake.set)

    def _take_locked(self) -> Event | None:
        if self._closed:
            return None
        if self._overflow:
            self._overflow = False
            return self._listener._resync_event("overflow")
        return self._items.popleft() if self._items else None

    def get(self, timeout: float | None = None) -> Event | None:
        """Blocking read for threads: the next event, or None on timeout / when closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                item = self._take_locked()
                if item is not None or self._closed:
                    return item
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)

    async def next(self, timeout: float | None = None) -> Event | None:
        """Read from the subscription's event loop: the next event, or None on timeout / when closed."""
        if self._wake is None:
            raise RuntimeError("this subscription was made outside an event loop: use get()")
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            with self._cond:
                item = self._take_locked()
            if item is not None or self._closed:
                return item
            self._wake.clear()
            with self._cond:  # an offer between the take and the clear has scheduled no wake-up for us
                item = self._take_locked()
            if item is not None or self._closed:
                return item
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), remaining)


class Listener:
    """One ``LISTEN onemap_events`` connection, data versions, and fan-out to subscribers.

    Parameters
    ----------
    dsn : str
        libpq connection string or URI (the app role is enough: it may read
        ``data_versions``).
    queue_size : int
        Default bound of each subscription's queue.
    poll_s : float
        How often the listener thread checks for :meth:`stop` (seconds).
    health_s : float
        After this long without a notification, a ``SELECT 1`` checks the
        connection (TCP keepalives catch silent network loss too).
    backoff_s : tuple of float
        First and largest delay between reconnection attempts (doubling).

    ``start()`` and ``stop()`` are idempotent; ``stop()`` returns within about
    ``poll_s`` (at most ``stop(timeout_s)``). The connection is used by the
    listener thread only.
    """

    def __init__(self, dsn: str, *, queue_size: int = 1000, poll_s: float = 0.2, health_s: float = 30.0,
                 backoff_s: tuple[float, float] = (0.2, 10.0), connect_timeout_s: int = 5,
                 application_name: str = "onemap-events") -> None:
        self.dsn = dsn
        self.queue_size = queue_size
        self.poll_s = poll_s
        self.health_s = health_s
        self.backoff_s = backoff_s
        self.connect_timeout_s = connect_timeout_s
        self.application_name = application_name
        self.versions: dict[str, int] = {}
        self.backend_pid: int | None = None
        self.connections = 0  # successful connections so far (1 + reconnects)
        self._lock = threading.Lock()
        self._subs: set[Subscription] = set()
        self._callbacks: list[Callable[[Event], None]] = []
        self._seq = 0
        self._seq_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._draining = False

    # --- lifecycle ---------------------------------------------------------------------

    def start(self, *, wait_s: float = 0.0) -> bool:
        """Start the listener thread (no-op when running); wait up to ``wait_s`` for LISTEN.

        Returns whether the listener is connected.
        """
        with self._lock:
            self._draining = False
            if self._thread is None or not self._thread.is_alive():
                self._stop = threading.Event()
                self._thread = threading.Thread(target=self._run, args=(self._stop,),
                                                name="onemap-events", daemon=True)
                self._thread.start()
        return self.wait_ready(wait_s)

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop the thread, close the connection and every subscription (idempotent)."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
        self.close_subscriptions()

    def close_subscriptions(self) -> None:
        """Close every subscription (and refuse new ones until :meth:`start`): server shutdown."""
        with self._lock:
            self._draining = True
            subs, self._subs = self._subs, set()
        for sub in subs:
            sub.close()

    def wait_ready(self, timeout_s: float | None = None) -> bool:
        """Wait until the listener is connected and listening; return whether it is."""
        return self._ready.wait(timeout_s) if timeout_s != 0 else self._ready.is_set()

    @property
    def connected(self) -> bool:
        """True while the connection is up and listening."""
        return self._ready.is_set()

    # --- versions ----------------------------------------------------------------------

    def version(self, table: str) -> int:
        """The data version of ``table`` (0 when unknown): a cache key that changes at every write."""
        with self._lock:
            return self.versions.get(table, 0)

    def versions_snapshot(self) -> dict[str, int]:
        """A copy of all data versions."""
        with self._lock:
            return dict(self.versions)

    # --- subscribers -------------------------------------------------------------------

    def subscribe(self, ctx: RequestContext, *, kinds: Iterable[str] = (), maxsize: int | None = None,
                  loop: asyncio.AbstractEventLoop | None = None) -> Subscription:
        """A new subscription for what ``ctx`` may see (``kinds``: prefixes, see :func:`parse_kinds`).

        Inside a running event loop the subscription wakes that loop (``await
        sub.next()``); elsewhere read it with ``sub.get()``.
        """
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
        sub = Subscription(self, ctx, kinds=tuple(kinds), maxsize=maxsize or self.queue_size, loop=loop)
        with self._lock:
            if not self._draining:
                self._subs.add(sub)
                return sub
        sub.close()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Remove and close ``sub`` (idempotent)."""
        with self._lock:
            self._subs.discard(sub)
        sub.close()

    @property
    def subscriber_count(self) -> int:
        """How many subscriptions are open."""
        with self._lock:
            return len(self._subs)

    def add_callback(self, fn: Callable[[Event], None]) -> None:
        """Call ``fn(event)`` for every event, resync markers included, in the listener thread.

        Keep it short and non-blocking (invalidate a cache, set a flag); on a
        resync marker drop everything derived from the database. Exceptions
        are logged and ignored.
        """
        with self._lock:
            if fn not in self._callbacks:
                self._callbacks.append(fn)

    def remove_callback(self, fn: Callable[[Event], None]) -> None:
        """Stop calling ``fn`` (idempotent)."""
        with self._lock:
            if fn in self._callbacks:
                self._callbacks.remove(fn)

    def dispatch(self, event: Event) -> Event:
        """Number ``event``, record its version and hand it to callbacks and subscribers.

        The listener thread calls this for each notification; in-process
        producers and tests may call it too. Returns the numbered event.
        """
        event = replace(event, seq=self._next_seq())
        with self._lock:
            if not event.is_resync:
                self.versions[event.table] = max(self.versions.get(event.table, 0), event.version)
            subs = tuple(self._subs)
            callbacks = tuple(self._callbacks)
        for fn in callbacks:
            try:
                fn(event)
            except Exception:  # a cache's bug must not stop the feed
                log.exception("events: callback %r failed on %s", fn, event.kind)
        for sub in subs:
            if sub.accepts(event):
                sub.offer(event)
        return event

    # --- internals ---------------------------------------------------------------------

    def _next_seq(self) -> int:
        with self._seq_lock:
            self._seq += 1
            return self._seq

    def _resync_event(self, reason: str) -> Event:
        return Event.resync(reason, seq=self._next_seq())

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True, connect_timeout=self.connect_timeout_s,
                               application_name=self.application_name, keepalives=1, keepalives_idle=30,
                               keepalives_interval=10, keepalives_count=3)

    def _load_versions(self, conn: psycopg.Connection) -> None:
        try:
            rows = conn.execute("SELECT table_name, version FROM data_versions").fetchall()
        except psycopg.errors.UndefinedTable:
            log.warning("events: no data_versions table (database older than migration 0004)")
            rows = []
        with self._lock:
            self.versions = {table: int(version) for table, version in rows}

    def _run(self, stop: threading.Event) -> None:
        delay = self.backoff_s[0]
        missed = False  # could notifications have been lost before this connection?
        while not stop.is_set():
            try:
                conn = self._connect()
            except psycopg.Error as exc:
                log.warning("events: cannot connect (%s); retrying in %.1f s", exc, delay)
                missed = True
                stop.wait(delay)
                delay = min(delay * 2, self.backoff_s[1])
                continue
            try:
                with conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
                    self._load_versions(conn)  # after LISTEN: no change falls between the two
                    self.backend_pid = conn.info.backend_pid
                    self.connections += 1
                    self._ready.set()
                    delay = self.backoff_s[0]
                    if missed or self.connections > 1:
                        self.dispatch(Event.resync("reconnected"))
                    self._listen(conn, stop)
            except psycopg.Error as exc:
                if not stop.is_set():
                    log.warning("events: connection lost (%s); reconnecting", exc)
            except Exception:  # never let the thread die silently
                log.exception("events: listener failed; reconnecting")
            finally:
                self._ready.clear()
                self.backend_pid = None
            missed = True
            if not stop.is_set():
                stop.wait(delay)

    def _listen(self, conn: psycopg.Connection, stop: threading.Event) -> None:
        quiet_since = time.monotonic()
        while not stop.is_set():
            for note in conn.notifies(timeout=self.poll_s):
                quiet_since = time.monotonic()
                try:
                    event = parse(note.payload)
                except InvalidInput as exc:
                    log.warning("events: ignored a notification: %s", exc)
                    continue
                self.dispatch(event)
            if time.monotonic() - quiet_since > self.health_s:
                conn.execute("SELECT 1")
                quiet_since = time.monotonic()
