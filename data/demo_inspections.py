"""Synthetic double-random inspections for the demo: rosters per county and one running draw.

:func:`add_demo_inspections` puts four synthetic inspectors (演示执法员) on the
roster of every county that has active enterprises, then — through the
workflow itself (:mod:`workflows.inspections`), acting as the demo county
regulator of Zhenhai (``demo.330211``) — draws, publishes and starts one
draw there (red and orange enterprises weighted, the others by proportion,
a fixed seed) and records results for part of it, one with a finding (a
hidden danger and a fine). So ``make demo`` shows the ``inspection_tasks``
layer in all its colours. Every name says 演示 (demo); none of it is a real
inspection. Call it after the four-colour risk is scored (the strata use it).
"""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.context import RequestContext, apply_context

__all__ = ["add_demo_inspections", "DEMO_COUNTY", "DEMO_SEED"]

DEMO_COUNTY = "330211"  # Zhenhai: the demo enterprise user's county
DEMO_SEED = 20261101
_PER_COUNTY = 4


def add_demo_inspections(engine: Engine) -> dict[str, int]:
    """Rosters and one running draw (see the module docstring); returns row counts. Idempotent per load."""
    from workflows.inspections import add_finding, create_draw, move_draw, move_task

    with engine.begin() as conn:
        counties = conn.execute(text(
            "SELECT DISTINCT adcode FROM enterprises WHERE valid_to IS NULL AND status = 'active' ORDER BY adcode"
        )).scalars().all()
        rows = [{"name": f"演示执法员{county[-4:]}-{n}", "adcode": county, "unit": "演示执法大队（合成数据）"}
                for county in counties for n in range(1, _PER_COUNTY + 1)]
        if rows:
            conn.execute(text("INSERT INTO inspectors (name, adcode, unit) VALUES (:name, :adcode, :unit)"), rows)
        counts = {"inspectors": len(rows), "draws": 0, "tasks": 0, "findings": 0}
        if DEMO_COUNTY not in counties:
            return counts
        ctx = RequestContext(role="county", jurisdiction=DEMO_COUNTY, actor=f"demo.{DEMO_COUNTY}")
        apply_context(conn, ctx)
        with Session(bind=conn) as session:
            session.info["ctx"] = ctx
            d = create_draw(session, ctx=ctx, payload={
                "adcode": DEMO_COUNTY, "title": "镇海区双随机抽查（演示）", "seed": DEMO_SEED, "avoid_repeat_days": 0,
                "strata": [{"name": "红橙", "risk_colours": ["red", "orange"], "proportion": "0.1",
                            "weights": {"red": 2}},
                           {"name": "其他", "risk_colours": ["yellow", "blue", "unrated"], "proportion": "0.02"}]})
            for to in ("published", "started"):
                move_draw(session, draw_id=d["id"], payload={"to": to}, ctx=ctx)
            tasks = d["tasks"]
            if tasks:
                add_finding(session, task_id=tasks[0]["id"], ctx=ctx, payload={
                    "title": "演示：储罐区可燃气体报警器失效", "description": "演示数据：两台报警器未通电",
                    "category": "equipment", "level": "general", "penalty": {"type": "fine", "amount_yuan": 10000}})
                counts["findings"] = 1
            for n, t in enumerate(tasks[: (len(tasks) + 1) // 2]):
                result = None if n == 0 else ("not_operating" if n % 5 == 0 else "compliant")
                move_task(session, task_id=t["id"], ctx=ctx, payload={
                    "to": "inspected", "result_summary": "演示：现场检查", **({"result": result} if result else {})})
            session.flush()
        counts.update(draws=1, tasks=len(tasks))
    return counts
