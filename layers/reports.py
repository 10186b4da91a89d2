"""Exports of the current map view: an offline HTML briefing and a GeoJSON snapshot.

``view_report_html`` draws the visible features of catalogue layers on a
folium map (no tiles, Leaflet inlined: :mod:`layers.offline_html`), with the
view's box, per-layer counts (by legend class), the legend and tables of the
most serious items: enterprises by risk colour (red first), hazard units by
grade, open major hidden dangers (overdue flagged). ``view_geojson`` returns
the same features as one FeatureCollection.

Colours come from the layer catalogue (each layer's MapLibre paint
expression, read here, and its legend): nothing is re-typed. Queries reuse
:mod:`layers.features` (``where_clauses``, ``feature_json_sql``,
``list_features``, ``count_features``) in the caller's session, so row-level
security decides what is visible. Each layer is capped at
:data:`MAX_FEATURES_PER_LAYER` features (most severe first), and the outputs
say when a cap was hit. Coordinates are WGS84 degrees.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Text, case, cast, func, select
from sqlalchemy.orm import Session

from geo import vocab
from layers.catalogue import LAYERS, Layer
from layers.features import (
    InvalidQuery,
    ListQuery,
    count_features,
    feature_json_sql,
    list_features,
    where_clauses,
)
from layers.offline_html import to_offline_html
from layers.spatial import serial_plans

__all__ = ["view_report_html", "view_geojson", "visible_features", "VisibleLayer", "resolve_layers",
           "check_view", "check_lang", "colour_of", "is_ranked", "html_table", "swatch", "REPORT_CSS", "LANGS", "MAX_FEATURES_PER_LAYER",
           "TOP_ITEMS", "fmt_int", "generated_at"]

MAX_FEATURES_PER_LAYER = 2000
"""Most features of one layer drawn or exported (the most severe first)."""

TOP_ITEMS = 20
"""Rows in each table of most serious items."""

LANGS = ("zh", "en")

_T = {
    "zh": {"title": "当前视图简报", "generated": "生成时间", "bbox": "范围（WGS84）", "lon": "经度", "lat": "纬度",
           "layer": "图层", "in_view": "视图内数量", "drawn": "已绘制", "by_class": "分类", "legend": "图例",
           "capped": "图层「{layer}」视图内共 {n} 个，地图只绘制最严重的前 {cap} 个。",
           "capped_ids": "图层「{layer}」视图内共 {n} 个，地图只绘制前 {cap} 个（按编号）。",
           "top": "（前 {k} 个，共 {n} 个）", "name": "名称", "uscc": "统一社会信用代码", "colour": "风险等级",
           "grade": "等级", "s": "S值", "r": "R值", "title_d": "隐患", "status": "状态", "deadline": "整改期限",
           "overdue": "逾期", "found": "发现日期", "ent_table": "企业（按风险等级）",
           "unit_table": "重大危险源（按等级）", "danger_table": "未销号重大隐患", "none": "无",
           "counties": "区县界", "unrated": "未评定", "yes": "是", "no": "否", "major": "重大危险源",
           "offline": "本文件可离线打开（地图库已内嵌，无底图）。"},
    "en": {"title": "Map view briefing", "generated": "Generated", "bbox": "Extent (WGS84)", "lon": "lon",
           "lat": "lat", "layer": "Layer", "in_view": "In view", "drawn": "Drawn", "by_class": "By class",
           "legend": "Legend",
           "capped": "Layer “{layer}” has {n} features in view; the map draws only the {cap} most serious.",
           "capped_ids": "Layer “{layer}” has {n} features in view; the map draws only the first {cap} (by id).",
           "top": " (first {k} of {n})", "name": "Name", "uscc": "USCC", "colour": "Risk colour",
           "grade": "Grade", "s": "S", "r": "R", "title_d": "Hidden danger", "status": "Status",
           "deadline": "Deadline", "overdue": "overdue", "found": "Found on",
           "ent_table": "Enterprises (by risk colour)", "unit_table": "Hazard units (by grade)",
           "danger_table": "Open major hidden dangers", "none": "none", "counties": "County boundaries",
           "unrated": "not rated", "yes": "yes", "no": "no", "major": "major hazard",
           "offline": "This file opens offline (map library embedded, no base map)."},
}

REPORT_CSS = """<style>
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; color: #262626; }
.onemap-report { padding: 12px 20px; }
.onemap-report h1 { font-size: 22px; margin: 4px 0 8px; }
.onemap-report h2 { font-size: 17px; margin: 18px 0 6px; }
.onemap-report .meta { color: #595959; font-size: 13px; margin: 2px 0; }
.onemap-report .note { color: #ad4e00; font-size: 13px; margin: 4px 0; }
.onemap-report table { border-collapse: collapse; font-size: 13px; margin: 4px 0 10px; }
.onemap-report th, .onemap-report td { border: 1px solid #d9d9d9; padding: 3px 8px; text-align: left; }
.onemap-report th { background: #fafafa; }
.onemap-report td.num { text-align: right; font-variant-numeric: tabular-nums; }
.onemap-report .sw { display: inline-block; width: 11px; height: 11px; border: 1px solid #8c8c8c;
  vertical-align: middle; margin-right: 4px; }
.onemap-report .overdue { color: #cf1322; font-weight: bold; }
</style>"""


# ---------------------------------------------------------------- input


def check_lang(lang: str) -> str:
    """``zh`` or ``en``; :class:`InvalidQuery` (field ``lang``) otherwise."""
    if lang not in LANGS:
        raise InvalidQuery("lang", f"must be one of {', '.join(LANGS)}, got {lang!r}")
    return lang


def resolve_layers(names: str | Iterable[str]) -> tuple[Layer, ...]:
    """Catalogue layers by name (comma-separated or a list), in the order given, without repeats.

    Raises :class:`InvalidQuery` (field ``layers``) for an empty list or an unknown name, listing the known ones.
    """
    items = names.split(",") if isinstance(names, str) else list(names)
    out: list[Layer] = []
    for raw in items:
        name = str(raw).strip()
        if not name:
            continue
        layer = LAYERS.get(name)
        if layer is None:
            raise InvalidQuery("layers", f"unknown layer {name[:60]!r}; known: {', '.join(LAYERS)}")
        if layer not in out:
            out.append(layer)
    if not out:
        raise InvalidQuery("layers", f"name at least one layer; known: {', '.join(LAYERS)}")
    return tuple(out)


def check_view(bbox: tuple[float, float, float, float] | None) -> tuple[float, float, float, float]:
    """A view box (already range-checked by ``parse_bbox``) that exists and has an area."""
    if bbox is None:
        raise InvalidQuery("bbox", "is required: minLon,minLat,maxLon,maxLat (WGS84 degrees)")
    x0, y0, x1, y1 = bbox
    if not (x1 > x0 and y1 > y0):
        raise InvalidQuery("bbox", "a view needs an extent: min must be less than max on both axes")
    return bbox


# ---------------------------------------------------------------- colours from the catalogue


def _paint_expression(layer: Layer) -> Any:
    paint = layer.style.get("paint", {})
    for key in ("circle-color", "fill-color", "line-color"):
        if key in paint:
            return paint[key]
    return layer.legend[0]["color"] if layer.legend else "#8c8c8c"


def _input_property(expr: Any) -> str | None:
    """The property a MapLibre expression reads: ``["get", p]``, possibly wrapped (``to-string``)."""
    if isinstance(expr, list) and expr:
        if expr[0] == "get" and len(expr) == 2:
            return expr[1]
        return _input_property(expr[1]) if len(expr) > 1 else None
    return None


def colour_of(layer: Layer) -> Callable[[dict[str, Any]], str]:
    """Feature properties → the colour the web map paints (the layer's ``match``/``step`` expression).

    >>> colour_of(LAYERS["enterprises"])({"risk_colour": "red"})
    '#e02020'
    >>> colour_of(LAYERS["hazard_units"])({"grade": 2}), colour_of(LAYERS["hazard_units"])({"grade": None})
    ('#f5222d', '#bfbfbf')
    >>> colour_of(LAYERS["risk_cells_r9"])({"individual_risk": 2e-6})
    '#fe9929'
    """
    expr = _paint_expression(layer)
    if isinstance(expr, str):
        return lambda _props: expr
    kind, prop = expr[0], _input_property(expr[1])
    if kind == "match":
        table = {str(expr[i]): expr[i + 1] for i in range(2, len(expr) - 1, 2)}
        default = expr[-1]
        return lambda props: table.get(str(props.get(prop)), default)
    if kind == "step":
        first, steps = expr[2], [(expr[i], expr[i + 1]) for i in range(3, len(expr) - 1, 2)]

        def stepped(props: dict[str, Any]) -> str:
            value, colour = props.get(prop), first
            for threshold, c in steps:
                if value is not None and value >= threshold:
                    colour = c
            return colour
        return stepped
    fallback = layer.legend[0]["color"] if layer.legend else "#8c8c8c"
    return lambda _props: fallback


def _legend_label(layer: Layer, props: dict[str, Any], lang: str) -> str:
    """The legend label of the feature's class (severity layers), or ""."""
    if layer.severity is None:
        return ""
    value = props.get(layer.severity[0])
    for entry in layer.legend:
        if entry["value"] is not None and str(entry["value"]) == str(value):
            return entry[lang]
    fallback = next((e[lang] for e in layer.legend if e["value"] is None), "")
    return fallback or ("" if value is None else str(value))


# ---------------------------------------------------------------- queries


@dataclass(frozen=True)
class VisibleLayer:
    """The features of one layer in a view: GeoJSON Feature dicts (most severe first), total, capped?"""

    layer: Layer
    features: list[dict[str, Any]]
    count: int
    capped: bool


def _severity_order(layer: Layer) -> list:
    """ORDER BY terms putting the most severe first: the layer's severity ranking, else its stepped value."""
    if layer.severity is not None:
        key, values = layer.severity
        col = cast(layer.field(key).column, Text)
        return [case({v: i for i, v in enumerate(values)}, value=col, else_=len(values))]
    expr = _paint_expression(layer)
    if isinstance(expr, list) and expr[0] == "step":
        fld = layer.field(_input_property(expr[1]) or "")
        if fld is not None:
            return [fld.column.desc().nulls_last()]
    return []


def is_ranked(layer: Layer) -> bool:
    """Whether capped lists of ``layer`` keep its most severe features (else the first by id)."""
    return bool(_severity_order(layer))


def visible_features(session: Session, *, layer: Layer, bbox: tuple[float, float, float, float],
                     cap: int = MAX_FEATURES_PER_LAYER, simplify_deg: float | None = None) -> VisibleLayer:
    """Features of ``layer`` intersecting ``bbox`` (degrees), at most ``cap``, the most severe first.

    ``simplify_deg`` simplifies polygon outlines (topology-preserving, tolerance in degrees) for drawing.
    """
    query = ListQuery(bbox=bbox)
    geom = layer.geom_column
    if simplify_deg is not None and layer.geometry != "Point":
        geom = func.ST_SimplifyPreserveTopology(geom, simplify_deg)
    stmt = (select(cast(feature_json_sql(layer, geojson=True, geom=geom), Text))
            .where(*where_clauses(layer, query))
            .order_by(*_severity_order(layer), layer.id_column).limit(cap + 1))
    features = [json.loads(row) for row in session.execute(stmt).scalars()]
    capped = len(features) > cap
    count = count_features(session, layer=layer, query=query) if capped else len(features)
    return VisibleLayer(layer, features[:cap], count, capped)


def _class_counts(session: Session, layer: Layer, bbox: tuple[float, float, float, float]) -> dict[str, int]:
    """Features in view per severity class (``str(value)``; "None" for unrated)."""
    if layer.severity is None:
        return {}
    col = cast(layer.field(layer.severity[0]).column, Text)
    stmt = select(col, func.count()).where(*where_clauses(layer, ListQuery(bbox=bbox))).group_by(col)
    return {str(k): n for k, n in session.execute(stmt).all()}


def view_geojson(session: Session, *, bbox: tuple[float, float, float, float] | None,
                 layers: str | Iterable[str], cap: int = MAX_FEATURES_PER_LAYER) -> dict[str, Any]:
    """The visible features of catalogue ``layers`` in ``bbox`` as one RFC 7946 FeatureCollection.

    Each feature carries its catalogue properties plus ``layer``; its ``id`` is
    ``"<layer>.<id>"`` (ids repeat across tables). Foreign members: ``capped``
    (layer → whether the cap cut it), ``matched`` (layer → features in view)
    and ``limit_per_layer``.
    """
    box, chosen = check_view(bbox), resolve_layers(layers)
    serial_plans(session)
    features: list[dict[str, Any]] = []
    capped: dict[str, bool] = {}
    matched: dict[str, int] = {}
    for layer in chosen:
        visible = visible_features(session, layer=layer, bbox=box, cap=cap)
        for f in visible.features:
            f["id"] = f"{layer.name}.{f['id']}"
            f["properties"]["layer"] = layer.name
        features += visible.features
        capped[layer.name], matched[layer.name] = visible.capped, visible.count
    return {"type": "FeatureCollection", "bbox": list(box), "features": features, "capped": capped,
            "matched": matched, "limit_per_layer": cap}


# ---------------------------------------------------------------- HTML pieces


def fmt_int(n: int | float | None) -> str:
    """``1234`` → ``'1,234'``; None → ``'–'``."""
    return "–" if n is None else f"{round(n):,}"


def swatch(colour: str) -> str:
    """A small colour square (``colour`` comes from the catalogue or a stored result, escaped anyway)."""
    return f'<span class="sw" style="background:{html.escape(colour)}"></span>'


def html_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, numeric: Sequence[int] = (),
               raw: Sequence[int] = ()) -> str:
    """An HTML table; cells are escaped except the columns in ``raw`` (trusted HTML built by the caller)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            text = str(value) if i in raw else html.escape("" if value is None else str(value))
            cells.append(f'<td class="num">{text}</td>' if i in numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def generated_at() -> str:
    """Now, local time with its UTC offset ("2026-03-01 14:05 UTC+08:00")."""
    now = datetime.now().astimezone()
    offset = now.strftime("%z")
    return f"{now:%Y-%m-%d %H:%M} UTC{offset[:3]}:{offset[3:]}"


# ---------------------------------------------------------------- the map


def _label(layer: Layer, props: dict[str, Any], lang: str) -> str:
    name = props.get("name") or props.get("title")
    if name is None and "individual_risk" in props:
        name = f"{props['individual_risk']:.1e} /{'年' if lang == 'zh' else 'year'}"
    cls = _legend_label(layer, props, lang)
    return " · ".join(str(p) for p in (name, cls) if p)


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _style(layer: Layer) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Leaflet path options for a drawn feature (its colour is in property ``c``), after the catalogue style."""
    paint = layer.style.get("paint", {})
    kind = layer.style.get("type", "circle")
    stroke = paint.get("circle-stroke-color")

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        c = feature["properties"]["c"]
        if kind == "line":
            return {"color": c, "weight": _number(paint.get("line-width"), 1.0), "fill": False}
        if kind == "fill":
            return {"color": c, "weight": 0.5, "fill": True, "fillColor": c,
                    "fillOpacity": _number(paint.get("fill-opacity"), 0.35)}
        if (feature.get("geometry") or {}).get("type") not in ("Point", "MultiPoint"):
            return {"color": c, "weight": 1, "fill": True, "fillColor": c, "fillOpacity": 0.5}
        return {"color": stroke if isinstance(stroke, str) else c, "weight": 1, "fill": True, "fillColor": c,
                "fillOpacity": 0.9}
    return style


def _draw(fmap, layer: Layer, features: list[dict[str, Any]], lang: str, *, name: str | None = None) -> None:
    """Add one layer to ``fmap`` as a GeoJson overlay coloured as the catalogue paints it."""
    import folium

    colour = colour_of(layer)
    data = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": i, "geometry": f["geometry"],
         "properties": {"label": html.escape(_label(layer, f["properties"], lang)),
                        "c": colour(f["properties"])}}
        for i, f in enumerate(reversed(features)) if f.get("geometry")]}  # most severe drawn last, on top
    # folium refuses a tooltip field that no feature has: an empty layer (no alarm open) gets none
    tooltip = folium.GeoJsonTooltip(fields=["label"], labels=False) if data["features"] else None
    folium.GeoJson(data, name=html.escape(name or getattr(layer, lang)), style_function=_style(layer),
                   marker=folium.CircleMarker(radius=5), tooltip=tooltip).add_to(fmap)


def _simplify_tolerance(bbox: tuple[float, float, float, float]) -> float:
    """About one screen pixel of a 1,500-pixel-wide map of ``bbox``, in degrees."""
    return max(bbox[2] - bbox[0], bbox[3] - bbox[1]) / 1500.0


def _view_map(bbox: tuple[float, float, float, float]):
    import folium

    fmap = folium.Map(location=[(bbox[1] + bbox[3]) / 2, (bbox[0] + bbox[2]) / 2], tiles=None,
                      control_scale=True, prefer_canvas=True, height="70vh")
    fmap.fit_bounds([[bbox[1], bbox[0]], [bbox[3], bbox[2]]])
    return fmap


# ---------------------------------------------------------------- the report


def _summary(session: Session, shown: list[VisibleLayer], bbox, lang: str) -> str:
    t = _T[lang]
    rows = []
    for v in shown:
        counts = _class_counts(session, v.layer, bbox)
        classes = [f"{swatch(e['color'])}{html.escape(e[lang])} {fmt_int(counts.get(str(e['value']), 0))}"
                   for e in v.layer.legend] if counts else []
        rows.append((getattr(v.layer, lang), fmt_int(v.count), fmt_int(len(v.features)), " · ".join(classes)))
    notes = "".join(
        '<p class="note">' + html.escape(t["capped" if is_ranked(v.layer) else "capped_ids"].format(layer=getattr(v.layer, lang), n=fmt_int(v.count),
                                                             cap=fmt_int(len(v.features)))) + "</p>"
        for v in shown if v.capped)
    return html_table((t["layer"], t["in_view"], t["drawn"], t["by_class"]), rows, numeric=(1, 2), raw=(3,)) + notes


def _legend(layers: Sequence[Layer], lang: str) -> str:
    rows = [(getattr(layer, lang), " ".join(f"{swatch(e['color'])}{html.escape(e[lang])}" for e in layer.legend))
            for layer in layers]
    return html_table((_T[lang]["layer"], _T[lang]["legend"]), rows, raw=(1,))


def _top_heading(title: str, k: int, n: int, lang: str) -> str:
    more = _T[lang]["top"].format(k=k, n=fmt_int(n)) if n > k else ""
    return f"<h2>{html.escape(title + more)}</h2>"


def _enterprise_table(v: VisibleLayer, lang: str) -> str:
    t, colour = _T[lang], colour_of(v.layer)
    top = v.features[:TOP_ITEMS]
    rows = [(p["name"], p["uscc"], swatch(colour(p)) + html.escape(_legend_label(v.layer, p, lang)))
            for p in (f["properties"] for f in top)]
    return (_top_heading(t["ent_table"], len(top), v.count, lang)
            + (html_table((t["name"], t["uscc"], t["colour"]), rows, raw=(2,)) if rows else f"<p>{t['none']}</p>"))


def _unit_table(v: VisibleLayer, lang: str) -> str:
    t, colour = _T[lang], colour_of(v.layer)
    top = v.features[:TOP_ITEMS]
    rows = [(p["name"], swatch(colour(p)) + html.escape(_legend_label(v.layer, p, lang)),
             "" if p.get("s") is None else f"{p['s']:.2f}", "" if p.get("r") is None else f"{p['r']:.1f}",
             t["yes"] if p.get("is_major") else t["no"])
            for p in (f["properties"] for f in top)]
    return (_top_heading(t["unit_table"], len(top), v.count, lang)
            + (html_table((t["name"], t["grade"], t["s"], t["r"], t["major"]), rows, numeric=(2, 3), raw=(1,))
               if rows else f"<p>{t['none']}</p>"))


def _danger_table(session: Session, layer: Layer, bbox, lang: str) -> str:
    """Open major hidden dangers in view, earliest deadline first; overdue (deadline before today, not yet
    verified as rectified) flagged."""
    t = _T[lang]
    open_statuses = tuple(s for s in vocab.DANGER_STATUSES if s != "closed")
    query = ListQuery(bbox=bbox, filters={"level": ("major",), "status": open_statuses},
                      sort=(("deadline", False),), limit=TOP_ITEMS)
    items = json.loads(list_features(session, layer=layer, query=query, geojson=False).body)
    n = count_features(session, layer=layer, query=query)
    today: date = session.execute(select(func.current_date())).scalar_one()
    rows = []
    for it in items:
        late = (it["deadline"] is not None and date.fromisoformat(it["deadline"]) < today
                and it["status"] in vocab.DANGER_UNRECTIFIED)
        flag = f'<span class="overdue">{html.escape(t["overdue"])}</span>' if late else ""
        rows.append((it["title"], vocab.DANGER_STATUSES[it["status"]][LANGS.index(lang)], it["found_on"],
                     it["deadline"], flag))
    return (_top_heading(t["danger_table"], len(items), n, lang)
            + (html_table((t["title_d"], t["status"], t["found"], t["deadline"], t["overdue"]), rows, raw=(4,))
               if rows else f"<p>{t['none']}</p>"))


def view_report_html(session: Session, *, bbox: tuple[float, float, float, float] | None,
                     layers: str | Iterable[str], lang: str = "zh") -> str:
    """An offline HTML briefing of the map view ``bbox`` (WGS84 degrees) showing catalogue ``layers``.

    Title, generation time, the box, per-layer counts in view (by legend
    class), the legend, tables of the most serious enterprises, hazard units
    and open major hidden dangers (for the layers asked for), and a map of
    the features (at most :data:`MAX_FEATURES_PER_LAYER` per layer, said when
    cut) over the county boundaries in view. Chinese by default, English
    with ``lang="en"``.
    """
    import folium

    lang, box, chosen = check_lang(lang), check_view(bbox), resolve_layers(layers)
    t = _T[lang]
    serial_plans(session)
    tolerance = _simplify_tolerance(box)
    shown = [visible_features(session, layer=layer, bbox=box, simplify_deg=tolerance) for layer in chosen]
    fmap = _view_map(box)
    counties = LAYERS["regions_county"]
    if counties not in chosen:
        outline = visible_features(session, layer=counties, bbox=box, simplify_deg=tolerance)
        _draw(fmap, counties, outline.features, lang, name=t["counties"])
    # areas under points; the first layer named on top
    for v in sorted(reversed(shown), key=lambda v: v.layer.geometry == "Point"):
        _draw(fmap, v.layer, v.features, lang)
    folium.LayerControl(collapsed=False).add_to(fmap)
    by_name = {v.layer.name: v for v in shown}
    x0, y0, x1, y1 = box
    header = (f'<div class="onemap-report"><h1>{html.escape(t["title"])}</h1>'
              f'<p class="meta">{html.escape(t["generated"])}: {html.escape(generated_at())}</p>'
              f'<p class="meta">{html.escape(t["bbox"])}: {html.escape(t["lon"])} {x0:.5f} – {x1:.5f}, '
              f'{html.escape(t["lat"])} {y0:.5f} – {y1:.5f}</p>'
              f'{_summary(session, shown, box, lang)}</div>')
    sections = [f"<h2>{html.escape(t['legend'])}</h2>", _legend(chosen, lang)]
    if "enterprises" in by_name:
        sections.append(_enterprise_table(by_name["enterprises"], lang))
    if "hazard_units" in by_name:
        sections.append(_unit_table(by_name["hazard_units"], lang))
    if "hidden_dangers" in by_name:
        sections.append(_danger_table(session, LAYERS["hidden_dangers"], box, lang))
    sections.append(f'<p class="meta">{html.escape(t["offline"])}</p>')
    return to_offline_html(fmap, title=f"OneMap · {t['title']}", lang="zh-CN" if lang == "zh" else "en",
                           head=REPORT_CSS, before_map=header,
                           after_map=f'<div class="onemap-report">{"".join(sections)}</div>')

