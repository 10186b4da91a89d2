// Incidents: a release scenario, an alarm or an accident report takes the wall to its place and holds it there.
import { getJSON } from "../api.js";
import { formatDistance, formatNumber, label, lang, t } from "../i18n.js";
import { escapeHtml, maplibregl } from "../mapbase.js";
import { moveTo, padding, setRiskSurface } from "./camera.js";
import { refreshKpis } from "./kpis.js";
import { renderBanner, renderLegend } from "./panels.js";
import { COLLECTIONS, HOLD_MS, known, scale, state } from "./state.js";
import { renderTour, scheduleCycle, showStep } from "./tour.js";

const TIER_COLOURS = ["match", ["get", "tier"], 3, "#ff3b3b", 2, "#ff8c00", 1, "#ffd400", "#ff8c00"];

export function addIncidentLayers() {
  const map = state.map;
  const k = scale();
  map.addSource("wall-incident", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
  const before = map.getLayer("labels-province") ? "labels-province" : undefined;
  const zones = ["==", ["get", "kind"], "threat_zone"];
  map.addLayer({ id: "wall-zones-fill", type: "fill", source: "wall-incident", filter: zones,
    layout: { "fill-sort-key": ["get", "tier"] },
    paint: { "fill-color": TIER_COLOURS, "fill-opacity": 0.38 } }, before);
  map.addLayer({ id: "wall-zones-line", type: "line", source: "wall-incident", filter: zones,
    paint: { "line-color": TIER_COLOURS, "line-width": 3 * k } }, before);
  map.addLayer({ id: "wall-band", type: "line", source: "wall-incident",
    filter: ["==", ["get", "kind"], "wind_direction_confidence"],
    paint: { "line-color": "#e6f4ff", "line-width": 2.5 * k, "line-dasharray": [3, 2], "line-opacity": 0.9 } }, before);
  map.addLayer({ id: "wall-source", type: "circle", source: "wall-incident",
    filter: ["all", ["==", ["geometry-type"], "Point"], ["!=", ["get", "kind"], "threat_zone"]],
    paint: { "circle-radius": 9 * k, "circle-color": "#ff1f1f", "circle-stroke-color": "#ffffff", "circle-stroke-width": 3 * k } });
}

let chemicalNames = null;

/** The chemical's name in the page's language (the plume model's table: /scenarios/chemicals). */
async function chemicalName(name) {
  chemicalNames ??= getJSON("/scenarios/chemicals").then((b) => Object.fromEntries(b.data.map((c) => [c.name, c])))
    .catch(() => ({}));
  const c = (await chemicalNames)[name];
  return c && lang() !== "en" ? c.name_zh : name;
}

export async function focusScenario(id) {
  const s = await getJSON(`/scenarios/${id}`);
  const chemical = await chemicalName(s.chemical);
  const fc = s.result?.type === "FeatureCollection" ? s.result : { type: "FeatureCollection", features: [] };
  const source = fc.features.find((f) => f.properties?.kind === "source")?.geometry?.coordinates;
  const center = Number.isFinite(s.params?.source_lon) ? [s.params.source_lon, s.params.source_lat] : source;
  if (!center) return;
  const tier2 = s.impact?.zones?.find((z) => z.tier === 2) ?? s.impact?.zones?.[0];
  const sub = tier2 ? `${tier2.level} · ${t("wall.impact.zone", { dist: formatDistance(tier2.max_downwind_m) })}` : "";
  showFocus({
    key: `scenario:${id}`,
    adcode: s.adcode,
    title: t("wall.scenario", { title: s.title || `#${s.id}`, chemical }),
    sub, center, fc, impact: s.impact,
  });
}

/** Where an alarm/incident is: its payload, its record (when the API has one), its enterprise, its county. */
async function locate(entity, data) {
  const d = data.d || {};
  const point = (g) => (g?.type === "Point" && Array.isArray(g.coordinates) ? g.coordinates.slice(0, 2) : null);
  const lonlat = (o) => (Number.isFinite(o?.lon) && Number.isFinite(o?.lat) ? [o.lon, o.lat] : null);
  let found = lonlat(d) ?? point(d.geometry);
  let record = null;
  const collection = COLLECTIONS[entity];
  // "/incidents/{incident_id}" and the like: fetched only when the API documents it
  const hasDetail = collection && [...state.paths].some((p) => p.startsWith(`${collection}/{`) && !p.slice(collection.length + 1).includes("/"));
  if (!found && hasDetail && data.id != null) {
    record = await getJSON(`${collection}/${encodeURIComponent(data.id)}`).catch(() => null);
    found = point(record?.geometry) ?? lonlat(record) ?? point(record?.location);
  }
  if (!found && data.e != null) {
    const ent = await getJSON(`/enterprises/${data.e}`).catch(() => null);
    found = point(ent?.geometry);
  }
  const county = data.a ? state.regions.get(data.a) : null;
  return { center: found, bbox: !found && county ? county.bbox : null, record, fc: record?.result?.type === "FeatureCollection" ? record.result : null };
}

/** "高高报 · 液氯储罐区" for an alarm record (GET /alarms/{id}): the rule, where it is. */
function alarmName(d, record) {
  if (!record?.sensor_code) return null;
  const rule = state.cat?.alarms?.fields.find((f) => f.name === "rule")?.choices?.[record.rule ?? d.rule];
  const where = record.hazard_unit_name ?? record.enterprise_name ?? record.sensor_code;
  return [rule ? label(rule) : null, where].filter(Boolean).join(" · ");
}

export async function focusIncident(kind, data) {
  const [entity] = kind.split(".");
  const where = await locate(entity, data);
  if (!where.center && !where.bbox) return;
  const d = data.d || {};
  const name = d.title ?? d.name ?? where.record?.title ?? where.record?.name ?? alarmName(d, where.record)
    ?? `#${data.id}`;
  const verb = kind.split(".")[1];
  const sub = [known([`entity.${entity}`, `wall.entity.${entity}`], entity), known([`event.${verb}`, `wall.event.${verb}`], verb),
    data.a ? state.regions.get(data.a)?.name : null].filter(Boolean).join(" · ");
  const fc = where.fc ?? (where.center
    ? { type: "FeatureCollection", features: [{ type: "Feature", geometry: { type: "Point", coordinates: where.center }, properties: { kind: "source" } }] }
    : { type: "FeatureCollection", features: [] });
  showFocus({ key: `${entity}:${data.id}`, adcode: data.a, title: t("wall.incident", { name }), sub,
    center: where.center, bbox: where.bbox, fc });
}

function showFocus({ key, adcode = null, title, sub, center, bbox = null, fc, impact = null }) {
  clearTimeout(state.cycleTimer);
  clearTimeout(state.holdTimer);
  state.holdUntil = Date.now() + HOLD_MS;
  state.holdTimer = setTimeout(endFocus, HOLD_MS);
  // the figures follow the incident to its county
  state.focus = { key, title, sub, impact, fc, adcode: state.regions.has(adcode) ? adcode : null };
  setRiskSurface(false); // the zones must stand out
  document.getElementById("tour").hidden = true;
  if (state.focus.adcode) refreshKpis({ touring: true });
  state.map.getSource("wall-incident").setData(fc);
  state.marker?.remove();
  state.marker = null;
  if (center) {
    const el = document.createElement("div"); // MapLibre positions it with a transform: animate a child
    el.className = "wall-pulse-anchor";
    el.innerHTML = '<span class="wall-pulse"></span><span class="wall-pulse late"></span>';
    state.marker = new maplibregl.Marker({ element: el }).setLngLat(center).addTo(state.map);
    moveTo({ center, zoom: zoomFor(center, fc) });
  } else if (bbox) {
    moveTo({ bounds: bbox });
  }
  document.body.dataset.focus = key;
  renderBanner();
  renderImpact();
  renderLegend();
}

/** A zoom that keeps every zone in view with the source in the middle. */
function zoomFor(center, fc) {
  let dx = 0.012; // at least a kilometre or so around the source
  let dy = 0.012;
  const visit = (c) => {
    if (typeof c[0] === "number") {
      dx = Math.max(dx, Math.abs(c[0] - center[0]));
      dy = Math.max(dy, Math.abs(c[1] - center[1]));
    } else c.forEach(visit);
  };
  for (const f of fc.features) if (f.geometry) visit(f.geometry.coordinates);
  const camera = state.map.cameraForBounds([[center[0] - dx, center[1] - dy], [center[0] + dx, center[1] + dy]],
    { padding: padding() });
  return Math.min(camera?.zoom ?? 13, 15);
}

export function renderImpact() {
  const el = document.getElementById("impact");
  const impact = state.focus?.impact;
  if (!state.holdUntil || !impact?.zones?.length) {
    el.hidden = true;
    el.innerHTML = "";
    return;
  }
  const zones = [...impact.zones].sort((a, b) => b.tier - a.tier).map((z) => `<li class="tier-${z.tier}">
      <i class="swatch"></i><b>${escapeHtml(z.level)}</b>
      <span class="dist">${escapeHtml(t("wall.impact.zone", { dist: formatDistance(z.max_downwind_m) }))}</span>
      <span class="counts">${escapeHtml(t("common.people", { n: formatNumber(Math.round(z.protection_targets?.population ?? 0)) }))}
        · ${escapeHtml(t("wall.impact.enterprises", { n: formatNumber(z.enterprises?.count ?? 0) }))}</span></li>`).join("");
  const teams = (impact.nearest_rescue_teams || []).slice(0, 3).map((r) => `<li><span class="name">${escapeHtml(r.name)}</span>
      <span class="dist">${escapeHtml(formatDistance(r.distance_m))}</span></li>`).join("");
  el.innerHTML = `<h3>${escapeHtml(t("wall.impact.title"))}</h3><ul class="zones">${zones}</ul>`
    + (teams ? `<h3>${escapeHtml(t("wall.impact.teams"))}</h3><ul class="teams">${teams}</ul>` : "");
  el.hidden = false;
}

function endFocus() {
  state.holdUntil = 0;
  state.focus = null;
  setRiskSurface(true);
  renderTour();
  state.map.getSource("wall-incident").setData({ type: "FeatureCollection", features: [] });
  state.marker?.remove();
  state.marker = null;
  delete document.body.dataset.focus;
  renderImpact();
  renderLegend();
  renderBanner();
  if (state.stream === "open") showStep(state.step, { fly: true }).finally(scheduleCycle);
  else scheduleCycle();
}
