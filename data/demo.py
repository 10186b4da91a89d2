"""``onemap demo load``: Zhejiang regions plus the synthetic registry, in one transaction.

Reloading replaces earlier synthetic rows (``TRUNCATE``, run as the owner
role: the only path that removes rows, and only when every row in the registry
tables is synthetic). A registry holding real data is refused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine, text

from data.synthetic import DEMO_PASSWORD, build_registry
from data.zhejiang import CITY_POPULATION_2020, PROVINCE_POPULATION_2020
from geo.bulk import copy_rows, reset_sequence
from geo.regions import ZHEJIANG, read_province, store_regions
from geo.users import hash_password

__all__ = ["load_demo", "demo_present", "DemoSummary", "DemoRefused", "LOAD_ORDER", "add_demo_accident_reports"]

LOAD_ORDER = ["enterprises", "hazard_units", "hazard_unit_inventory", "hidden_dangers",
              "protection_targets", "rescue_teams", "supply_depots", "depot_stock", "sensors", "users"]
# rows derived from the registry (assessments, risk, records): replaced with it
DERIVED = ["risk_queue", "hazard_assessment_queue", "hazard_assessments", "risk_units", "risk_cells",
           "risk_surface", "societal_risk", "enterprise_records", "hidden_danger_evidence",
           "hidden_danger_transitions", "accident_report_updates", "accident_reports", "credit_scores",
           "blacklist_entries", "credit_events", "inspection_transitions", "inspection_findings", "inspection_tasks",
           "inspection_draws", "inspector_conflicts", "inspectors",
           "alarm_transitions", "alarms", "reading_rejects", "sensor_latest", "readings"]  # telemetry of the demo
# sensors (their alarms, readings, latest values and rejects) goes with them
_SOURCE_TABLES = ["enterprises", "hazard_units", "hidden_dangers", "protection_targets",
                  "rescue_teams", "supply_depots", "sensors", "accident_reports"]


class DemoRefused(RuntimeError):
    """The database holds non-synthetic rows that a demo load would remove."""


@dataclass
class DemoSummary:
    """What was loaded and how long it took."""

    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def as_text(self) -> str:
        lines = ["Loaded Zhejiang demo (synthetic registry — 合成演示数据):"]
        lines += [f"  {k:<22} {v:>8,}" for k, v in self.counts.items()]
        lines.append(f"  total {self.seconds.get('total', 0):.1f} s")
        return "\n".join(lines)


def _refuse_if_real(conn) -> None:
    for table in _SOURCE_TABLES:
        real = conn.execute(text(f"SELECT count(*) FROM {table} WHERE data_source <> 'synthetic'")).scalar()
        if real:
            raise DemoRefused(f"{table}: holds {real} non-synthetic rows; a demo load would remove them")
    other_users = conn.execute(text("SELECT count(*) FROM users WHERE username NOT LIKE 'demo.%'")).scalar()
    if other_users:
        raise DemoRefused(f"users: holds {other_users} non-demo users; a demo load would remove them")


def demo_present(engine: Engine, *, n_enterprises: int) -> bool:
    """True when the regions and a synthetic registry of ``n_enterprises`` are loaded."""
    with engine.connect() as conn:
        regions, synthetic, total = conn.execute(text(
            "SELECT (SELECT count(*) FROM regions), count(*) FILTER (WHERE data_source = 'synthetic'), count(*) "
            "FROM enterprises")).one()
    return regions == 102 and synthetic == total == n_enterprises


def load_demo(engine: Engine, *, n_enterprises: int = 20_000, seed: int = 20261123,
              today: date | None = None, progress: bool = False) -> DemoSummary:
    """Load regions and the synthetic registry (the caller has migrated the database)."""
    summary = DemoSummary()
    t0 = time.perf_counter()
    regions = read_province(ZHEJIANG)
    registry = build_registry(regions, n_enterprises=n_enterprises, seed=seed, today=today,
                              demo_password_hash=hash_password(DEMO_PASSWORD))
    summary.seconds["build"] = time.perf_counter() - t0
    pop_note = "rough: city census 2020 total split by weighted area (synthetic demo)"
    population = {ad: (p, pop_note) for ad, p in registry.county_population.items()}
    census = "7th national census 2020 (浙江省第七次人口普查主要数据公报)"
    population.update({ad: (p, census) for ad, p in CITY_POPULATION_2020.items()})
    population[ZHEJIANG] = (PROVINCE_POPULATION_2020, census)

    columns = [TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, disable=not progress, transient=False) as bar, engine.begin() as conn:
        _refuse_if_real(conn)
        task = bar.add_task("regions", total=len(regions))
        store_regions(conn, regions, population)
        bar.update(task, completed=len(regions))
        summary.counts["regions"] = len(regions)
        conn.execute(text("TRUNCATE " + ", ".join(DERIVED + list(reversed(LOAD_ORDER))) + " RESTART IDENTITY"))
        raw = conn.connection.driver_connection
        for table in LOAD_ORDER:
            cols, rows = registry.tables[table]
            task = bar.add_task(table, total=len(rows))
            t = time.perf_counter()
            copy_rows(raw, table, cols, rows, on_rows=lambda n, task=task: bar.advance(task, n))
            reset_sequence(raw, table)
            summary.counts[table] = len(rows)
            summary.seconds[table] = time.perf_counter() - t
        summary.counts["accident_reports"] = add_demo_accident_reports(conn, seed)
        for table in ["regions", *LOAD_ORDER]:
            conn.execute(text(f"ANALYZE {table}"))
    summary.seconds["total"] = time.perf_counter() - t0
    return summary


# A few recent quick reports at hazard units (事故快报), so the accident layer and the wall have something:
# (accident type, chemical, CAS, hours ago, deaths, serious injuries, status)
_DEMO_ACCIDENTS = [
    ("leak", "氯", "7782-50-5", 1.5, 0, 2, "reported"),
    ("poisoning", "氨", "7664-41-7", 20, 0, 3, "reported"),
    ("fire", None, None, 30, 0, 0, "verified"),
    ("explosion", None, None, 75, 1, 4, "verified"),
    ("leak", "苯", "71-43-2", 140, 0, 0, "closed"),
    ("burn", None, None, 300, 0, 1, "closed"),
]


def add_demo_accident_reports(conn, seed: int) -> int:
    """Insert :data:`_DEMO_ACCIDENTS` at hazard units picked by ``seed`` (the owner role: history rows
    are written as ``maintenance`` for the reports loaded past ``reported``)."""
    units = conn.execute(text(
        "SELECT h.id, h.enterprise_id, e.name FROM hazard_units h JOIN enterprises e ON e.id = h.enterprise_id "
        "WHERE h.is_major ORDER BY md5(h.id::text || :seed) LIMIT :n"),
        {"seed": str(seed), "n": len(_DEMO_ACCIDENTS)}).all()
    labels = {"leak": "泄漏", "poisoning": "中毒", "fire": "火灾", "explosion": "爆炸", "burn": "灼烫"}
    for (kind, chemical, cas, hours, deaths, injured, status), (unit, ent, name) in zip(_DEMO_ACCIDENTS, units, strict=False):
        conn.execute(text(
            "INSERT INTO accident_reports (occurred_at, reported_at, accident_type, enterprise_id, hazard_unit_id, "
            "title, description, chemical, cas, deaths, serious_injuries, status, data_source, geom) "
            "SELECT now() - make_interval(mins => (:h * 60)::int), now() - make_interval(mins => (:h * 60 - 25)::int), "
            ":k, :e, :u, :t, :d, :c, :cas, :deaths, :inj, :s, 'synthetic', h.geom FROM hazard_units h WHERE h.id = :u"),
            {"h": hours, "k": kind, "e": ent, "u": unit, "t": f"{name}{labels[kind]}"[:200],
             "d": "合成演示数据：现场人员发现后立即报告，企业启动应急预案", "c": chemical, "cas": cas,
             "deaths": deaths, "inj": injured, "s": status})
    return len(units)
