"""Exports of a saved release scenario: GeoJSON as stored, a GeoTIFF of the grid, an offline HTML briefing.

The scenario is read with :func:`layers.scenario.get_scenario` in the
caller's session, so row-level security applies: a scenario outside the
caller's jurisdiction is :class:`~geo.errors.NotFound` for every export.

* :func:`scenario_geojson`: zones, wind-direction band and source exactly as
  stored (WGS84), plus ``scenario_id`` and ``title`` in the ``onemap`` member;
* :func:`scenario_geotiff`: the stored row keeps the validated parameters, and
  :func:`plume.run` is deterministic, so the run is repeated and its
  ground-level maximum concentration (ppm, float32) written with
  :meth:`plume.Result.to_geotiff` (local azimuthal-equidistant CRS, metres);
* :func:`scenario_report_html`: the stored zones, band and source on a map
  with the nearest rescue teams and supply depots, and the stored impact
  (people and places per zone, help with distances in metres) as tables.
"""

from __future__ import annotations

import html
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

import plume
from geo import vocab
from geo.errors import InvalidInput
from layers.catalogue import LAYERS, RISK_COLOURS
from layers.offline_html import to_offline_html, tooltip_text
from layers.reports import (
    REPORT_CSS,
    check_lang,
    colour_of,
    fmt_int,
    generated_at,
    html_table,
    swatch,
)
from layers.scenario import get_scenario
from plume.errors import describe

__all__ = ["scenario_geojson", "scenario_geotiff", "scenario_report_html", "rerun"]

_T = {
    "zh": {"title": "泄漏事故情景简报", "scenario": "情景", "generated": "生成时间", "chemical": "化学品",
           "source": "泄漏源（WGS84）", "created": "创建", "release": "泄漏参数", "weather": "气象条件",
           "warnings": "适用性提示", "zones": "威胁区", "level": "关注浓度", "threshold": "阈值（ppm）",
           "downwind": "下风向最远（米）", "area": "面积（平方公里）", "targets": "防护目标（个）",
           "people": "涉及人数", "enterprises": "企业（个）", "units": "危险源（个）",
           "sensitive": "区内高敏感/重要防护目标", "zone": "威胁区", "name": "名称", "kind": "类型",
           "category": "防护类别", "population": "人数", "ent_in": "区内企业", "uscc": "统一社会信用代码",
           "colour": "风险等级", "teams": "最近的救援队伍", "depots": "最近的物资储备库", "headcount": "人数",
           "distance": "距泄漏源（米）", "depot_level": "级别", "outside": "只列出第 2 级威胁区（AEGL-2 或其替代阈值）以外的队伍和储备库。",
           "band": "风向置信范围", "none": "无", "param": "参数", "value": "数值",
           "offline": "本文件可离线打开（地图库已内嵌，无底图）。"},
    "en": {"title": "Release scenario briefing", "scenario": "Scenario", "generated": "Generated",
           "chemical": "Chemical", "source": "Source (WGS84)", "created": "Created", "release": "Release",
           "weather": "Weather", "warnings": "Validity warnings", "zones": "Threat zones", "level": "Level of concern",
           "threshold": "Threshold (ppm)", "downwind": "Max downwind (m)", "area": "Area (km²)",
           "targets": "Protection targets", "people": "People", "enterprises": "Enterprises",
           "units": "Hazard units", "sensitive": "Highly sensitive / important targets in the zones",
           "zone": "Zone", "name": "Name", "kind": "Kind", "category": "Category", "population": "People",
           "ent_in": "Enterprises in the zones", "uscc": "USCC", "colour": "Risk colour",
           "teams": "Nearest rescue teams", "depots": "Nearest supply depots", "headcount": "Headcount",
           "distance": "From source (m)", "depot_level": "Level",
           "outside": "Only teams and depots outside the tier-2 zone (AEGL-2 or its stand-in) are listed.",
           "band": "wind-direction confidence", "none": "none", "param": "Parameter", "value": "Value",
           "offline": "This file opens offline (map library embedded, no base map)."},
}


def scenario_geojson(session, *, scenario_id: int) -> dict[str, Any]:
    """The stored FeatureCollection (zones, band, source; WGS84) with ``scenario_id``/``title`` under ``onemap``."""
    row = get_scenario(session, scenario_id=scenario_id)
    fc = dict(row["result"])
    fc["onemap"] = {**fc.get("onemap", {}), "scenario_id": row["id"], "title": row["title"]}
    return fc


def rerun(params: dict[str, Any]) -> plume.Result:
    """:func:`plume.run` on stored parameters; :class:`~geo.errors.InvalidInput` if they no longer validate."""
    try:
        scenario = plume.Scenario.model_validate(params)
    except (ValidationError, ValueError, KeyError) as exc:
        raise InvalidInput("scenario.params", f"the stored parameters no longer validate: {describe(exc)}") from None
    return plume.run(scenario)


def scenario_geotiff(session, *, scenario_id: int, north_up: bool = False) -> bytes:
    """The scenario's concentration grid as GeoTIFF bytes (one float32 band, ppm, local metric CRS).

    ``north_up=False`` keeps the wind-aligned grid (rotated geotransform);
    ``True`` resamples it onto a north-up grid of the same cell size.
    """
    import rasterio

    row = get_scenario(session, scenario_id=scenario_id)
    result = rerun(row["params"])
    with tempfile.TemporaryDirectory(prefix="onemap-tif-") as tmp:
        path = Path(tmp) / f"scenario-{scenario_id}.tif"
        result.to_geotiff(path, north_up=north_up)
        with rasterio.open(path, "r+") as dst:
            dst.update_tags(scenario_id=str(row["id"]), title=row["title"] or "")
        return path.read_bytes()


# ---------------------------------------------------------------- the HTML briefing


def _feature_bounds(features: list[dict[str, Any]]) -> list[list[float]] | None:
    """[[south, west], [north, east]] of the features' coordinates, or None."""
    xs: list[float] = []
    ys: list[float] = []

    def walk(c: Any) -> None:
        if isinstance(c, list) and len(c) >= 2 and all(isinstance(v, (int, float)) for v in c[:2]):
            xs.append(c[0])
            ys.append(c[1])
        elif isinstance(c, list):
            for part in c:
                walk(part)
    for f in features:
        walk((f.get("geometry") or {}).get("coordinates"))
    return [[min(ys), min(xs)], [max(ys), max(xs)]] if xs else None


def _scenario_map(row: dict[str, Any], impact: dict[str, Any], lang: str):
    """folium map: band (dashed), zones (yellow under orange under red), source, nearest help."""
    import folium

    t = _T[lang]
    features = row["result"].get("features", [])
    params = row["params"]
    fmap = folium.Map(location=[params["source_lat"], params["source_lon"]], zoom_start=13, tiles=None,
                      control_scale=True, height="65vh")
    band = [f for f in features if f["properties"].get("kind") == "wind_direction_confidence" and f["geometry"]]
    if band:
        folium.GeoJson({"type": "FeatureCollection", "features": band}, name=html.escape(t["band"]),
                       style_function=lambda _: {"color": "#333333", "weight": 1, "dashArray": "6 4",
                                                 "fill": False}).add_to(fmap)
    zones = sorted((f for f in features if f["properties"].get("kind") == "threat_zone" and f["geometry"]),
                   key=lambda f: f["properties"].get("tier", 0))
    for z in zones:
        p = z["properties"]
        colour = p.get("colour") or "#ff0000"
        folium.GeoJson(z, name=html.escape(f"{p['level']} ({p['threshold_ppm']:g} ppm)"),
                       tooltip=tooltip_text(f"{p['level']}: {p['threshold_ppm']:g} ppm, "
                                            f"{p['max_downwind_m']:,.0f} m"),
                       style_function=lambda _, c=colour: {
                           "color": c, "weight": 1, "fillColor": c, "fillOpacity": 0.35}).add_to(fmap)
    help_layers = (("nearest_rescue_teams", "rescue_teams", t["teams"]),
                   ("nearest_supply_depots", "supply_depots", t["depots"]))
    for key, layer_name, title in help_layers:
        colour = colour_of(LAYERS[layer_name])({})
        group = folium.FeatureGroup(name=html.escape(title))
        for item in impact.get(key) or []:
            folium.CircleMarker([item["lat"], item["lon"]], radius=6, color="#ffffff", weight=1, fill=True,
                                fill_color=colour, fill_opacity=0.95,
                                tooltip=tooltip_text(f"{item['name']} · {item['distance_m']:,.0f} m")).add_to(group)
        group.add_to(fmap)
    folium.CircleMarker([params["source_lat"], params["source_lon"]], radius=7, color="#000000", weight=2,
                        fill=True, fill_color="#ffffff", fill_opacity=1,
                        tooltip=tooltip_text(f"{t['source']}: {row['chemical']}")).add_to(fmap)
    bounds = _feature_bounds(band + zones)
    if bounds:
        fmap.fit_bounds(bounds)
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap


def _label(table: dict[str, tuple[str, str]], value: Any, lang: str) -> str:
    entry = table.get(value) if isinstance(value, str) else None
    return entry[0 if lang == "zh" else 1] if entry else ("" if value is None else str(value))


def _params_table(params: dict[str, Any], lang: str) -> str:
    t = _T[lang]
    rows = [(t["release"] + " · " + k, v) for k, v in params.get("release", {}).items() if v is not None]
    rows += [(t["weather"] + " · " + k, v) for k, v in params.get("weather", {}).items() if v is not None]
    rows.append(("release_height_m", params.get("release_height_m")))
    return html_table((t["param"], t["value"]), rows)


def _zone_tables(impact: dict[str, Any], lang: str) -> list[str]:
    t = _T[lang]
    zones = impact.get("zones") or []
    rows, sensitive, ents = [], [], []
    for z in zones:
        pt, en, hu = z.get("protection_targets", {}), z.get("enterprises", {}), z.get("hazard_units", {})
        rows.append((z["level"], f"{z['threshold_ppm']:g}", fmt_int(z.get("max_downwind_m")),
                     f"{z.get('area_m2', 0) / 1e6:.3f}", fmt_int(pt.get("count", 0)), fmt_int(pt.get("population", 0)),
                     fmt_int(en.get("count", 0)), fmt_int(hu.get("count", 0))))
        sensitive += [(z["level"], s["name"], _label(vocab.TARGET_KINDS, s["kind"], lang),
                       _label(vocab.TARGET_CATEGORIES, s["category"], lang), fmt_int(s.get("population")))
                      for s in pt.get("sensitive", [])]
        ents += [(z["level"], e["name"], e["uscc"],
                  (swatch(RISK_COLOURS[e["risk_colour"]]) if e.get("risk_colour") in RISK_COLOURS else "")
                  + html.escape(_label(vocab.RISK_COLOURS, e.get("risk_colour"), lang)))
                 for e in en.get("items", [])]
    none = f"<p>{html.escape(t['none'])}</p>"
    return [
        f"<h2>{html.escape(t['zones'])}</h2>",
        html_table((t["level"], t["threshold"], t["downwind"], t["area"], t["targets"], t["people"],
                    t["enterprises"], t["units"]), rows, numeric=(1, 2, 3, 4, 5, 6, 7)) if rows else none,
        f"<h2>{html.escape(t['sensitive'])}</h2>",
        html_table((t["zone"], t["name"], t["kind"], t["category"], t["population"]), sensitive, numeric=(4,))
        if sensitive else none,
        f"<h2>{html.escape(t['ent_in'])}</h2>",
        html_table((t["zone"], t["name"], t["uscc"], t["colour"]), ents, raw=(3,)) if ents else none,
    ]


def _help_tables(impact: dict[str, Any], lang: str) -> list[str]:
    t = _T[lang]
    none = f"<p>{html.escape(t['none'])}</p>"
    teams = [(r["name"], _label(vocab.TEAM_KINDS, r.get("kind"), lang), fmt_int(r.get("headcount")),
              fmt_int(r["distance_m"])) for r in impact.get("nearest_rescue_teams") or []]
    depots = [(r["name"], _label(vocab.DEPOT_LEVELS, r.get("level"), lang), fmt_int(r["distance_m"]))
              for r in impact.get("nearest_supply_depots") or []]
    out = [f"<h2>{html.escape(t['teams'])}</h2>",
           html_table((t["name"], t["kind"], t["headcount"], t["distance"]), teams, numeric=(2, 3)) if teams else none,
           f"<h2>{html.escape(t['depots'])}</h2>",
           html_table((t["name"], t["depot_level"], t["distance"]), depots, numeric=(2,)) if depots else none]
    if impact.get("outside_zone"):
        out.append(f'<p class="meta">{html.escape(t["outside"])}</p>')
    return out


def scenario_report_html(session, *, scenario_id: int, lang: str = "zh") -> str:
    """An offline HTML briefing of a saved scenario: map of zones, band, source and help; impact tables.

    Distances are straight-line metres from the source; areas km²; thresholds ppm.
    """
    lang = check_lang(lang)
    t = _T[lang]
    row = get_scenario(session, scenario_id=scenario_id)
    impact, params = row["impact"] or {}, row["params"]
    name = row["title"] or f"{t['scenario']} #{row['id']}"
    created = row["created_at"].strftime("%Y-%m-%d %H:%M") if row.get("created_at") else ""
    warnings = "".join(f'<p class="note">{html.escape(w)}</p>' for w in row.get("warnings") or [])
    header = (f'<div class="onemap-report"><h1>{html.escape(t["title"])}: {html.escape(name)}</h1>'
              f'<p class="meta">{html.escape(t["chemical"])}: {html.escape(row["chemical"])} · '
              f'{html.escape(t["source"])}: {params["source_lon"]:.5f}, {params["source_lat"]:.5f} · '
              f'{html.escape(t["created"])}: {html.escape(row["created_by"] or "")} {created} · '
              f'{html.escape(t["generated"])}: {html.escape(generated_at())}</p>'
              + (f"<h2>{html.escape(t['warnings'])}</h2>{warnings}" if warnings else "") + "</div>")
    sections = [*_zone_tables(impact, lang), *_help_tables(impact, lang),
                f"<h2>{html.escape(t['release'])} / {html.escape(t['weather'])}</h2>", _params_table(params, lang),
                f'<p class="meta">{html.escape(t["offline"])}</p>']
    return to_offline_html(_scenario_map(row, impact, lang), title=f"OneMap · {name}",
                           lang="zh-CN" if lang == "zh" else "en", head=REPORT_CSS, before_map=header,
                           after_map=f'<div class="onemap-report">{"".join(sections)}</div>')
