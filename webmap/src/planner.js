// The scenario planner (/planner): pick a hazard unit or a point, describe the
// release and the weather, run the plume model on the server (POST /scenarios),
// draw the threat zones with the wind-direction band, list who and what is
// inside and the nearest help outside the AEGL-2 zone; export; reopen by URL.
import { download, getJSON, postJSON } from "./api.js";
import { formatDistance, formatNumber, lang, onLangChange, t } from "./i18n.js";
import { clickableLayerIds, createMap, escapeHtml, maplibregl } from "./mapbase.js";
import { setupSession, toast } from "./session.js";

const state = { map: null, marker: null, chemicals: [], scenario: null, unit: null, sourceTerm: null, accident: null };
const form = () => document.getElementById("planner-form");

async function main() {
  await setupSession({ onLogin: () => location.reload() });
  const params = new URLSearchParams(location.search);
  state.map = await createMap("map", { theme: "light", layers: ["hazard_units", "enterprises", "rescue_teams",
    "supply_depots", "protection_targets"] });
  addResultLayers();
  state.chemicals = (await getJSON("/scenarios/chemicals")).data;
  renderChemicals();
  wireForm();
  state.map.on("click", onMapClick);
  onLangChange(() => { renderChemicals(); renderResults(); });
  if (params.get("scenario")) await openScenario(Number(params.get("scenario")));
  else if (params.get("accident")) await fromAccident(Number(params.get("accident")));
  else if (params.get("unit")) await pickUnit(Number(params.get("unit")), { fly: true });
  window.onemap = { map: state.map }; // for the browser tests and the console
  document.body.dataset.ready = "planner";
}

function renderChemicals() {
  const select = document.getElementById("chemical");
  const value = select.value || "chlorine";
  select.innerHTML = state.chemicals.map((c) => `<option value="${escapeHtml(c.name)}">${escapeHtml(lang() === "en" ? c.name : `${c.name_zh}（${c.name}）`)}</option>`).join("");
  select.value = value;
}

function wireForm() {
  const f = form();
  const kind = document.getElementById("release-kind");
  const showKind = () => {
    for (const el of f.querySelectorAll("[data-release]")) el.hidden = el.dataset.release !== kind.value;
  };
  kind.addEventListener("change", showKind);
  showKind();
  const stability = document.getElementById("stability");
  const showStability = () => {
    document.getElementById("auto-stability").hidden = stability.value !== "auto";
  };
  stability.addEventListener("change", showStability);
  showStability();
  f.elements.daytime.addEventListener("change", () => {
    f.querySelector("[data-day]").hidden = !f.elements.daytime.checked;
    f.querySelector("[data-night]").hidden = f.elements.daytime.checked;
  });
  f.addEventListener("submit", (ev) => { ev.preventDefault(); run(); });
}

// ---- picking the source ------------------------------------------------------------

function onMapClick(ev) {
  const hits = state.map.queryRenderedFeatures(ev.point, { layers: clickableLayerIds(state.map) });
  const unit = hits.find((h) => h.layer.metadata?.["onemap:layer"] === "hazard_units" && !h.properties.count);
  if (unit) {
    pickUnit(Number(unit.id ?? unit.properties.id));
    return;
  }
  state.unit = null;
  document.getElementById("prefill-note").textContent = "";
  setSource(ev.lngLat.lng, ev.lngLat.lat);
}

function setSource(lon, lat, name = null) {
  const f = form();
  f.elements.source_lon.value = lon.toFixed(6);
  f.elements.source_lat.value = lat.toFixed(6);
  document.getElementById("source-text").textContent = `${name ? `${name} · ` : ""}${lon.toFixed(5)}, ${lat.toFixed(5)}`;
  state.marker?.remove();
  state.marker = new maplibregl.Marker({ color: "#cf1322" }).setLngLat([lon, lat]).addTo(state.map);
  document.body.dataset.source = "set";
}

async function pickUnit(id, { fly = false } = {}) {
  try {
    const pre = await getJSON(`/scenarios/prefill?unit=${id}`);
    state.unit = pre.unit;
    setSource(pre.unit.lon, pre.unit.lat, pre.unit.name);
    const f = form();
    const note = [];
    if (pre.release) {
      f.elements.chemical.value = pre.release.chemical;
      f.elements.inventory_kg.value = Math.round(pre.release.inventory_kg);
      f.elements.mass_kg.value = Math.round(pre.release.inventory_kg);
      document.getElementById("release-kind").value = "tank_hole";
      document.getElementById("release-kind").dispatchEvent(new Event("change"));
      note.push(`${pre.release.as_stored}: ${formatNumber(Math.round(pre.release.inventory_kg))} kg`);
    }
    if (pre.not_modelled.length) note.push(t("planner.not_modelled", { list: pre.not_modelled.join("、") }));
    document.getElementById("prefill-note").textContent = note.join("；");
    if (!f.elements.title.value) f.elements.title.value = `${pre.unit.name} ${pre.release ? pre.release.as_stored : ""}`.trim();
    if (fly) state.map.flyTo({ center: [pre.unit.lon, pre.unit.lat], zoom: 12, duration: 0 });
  } catch (err) {
    toast(t("common.error", { reason: err.message }), { error: true });
  }
}

/** Start from an accident quick report (事故快报): its place (or its hazard unit's inventory) and its chemical. */
async function fromAccident(id) {
  try {
    const report = await getJSON(`/accident-reports/${id}`);
    const [lon, lat] = report.geometry.coordinates;
    if (report.hazard_unit_id) await pickUnit(report.hazard_unit_id);
    setSource(lon, lat, report.title);
    const f = form();
    const said = (report.chemical || "").trim().toLowerCase();
    const known = state.chemicals.find((c) => (report.cas && c.cas === report.cas)
      || (said && (c.name_zh === report.chemical.trim() || c.name.toLowerCase() === said)));
    if (known) f.elements.chemical.value = known.name;
    const note = [t("planner.from_accident", { id, time: new Date(report.occurred_at).toLocaleString(lang() === "en" ? "en-GB" : "zh-CN") })];
    if (report.chemical && !known) note.push(t("planner.not_modelled", { list: report.chemical }));
    const prefill = document.getElementById("prefill-note");
    prefill.textContent = [prefill.textContent, ...note].filter(Boolean).join("；");
    f.elements.title.value = `${t("planner.accident_title", { id })} ${report.title}`.slice(0, 200);
    state.accident = report;
    document.body.dataset.accident = String(id);
    state.map.flyTo({ center: [lon, lat], zoom: 12, duration: 0 });
  } catch (err) {
    toast(t("common.error", { reason: err.message }), { error: true });
  }
}

// ---- running -------------------------------------------------------------------------

function num(name) {
  const value = form().elements[name].value;
  return value === "" ? null : Number(value);
}

async function buildScenario() {
  const f = form();
  const lon = num("source_lon");
  const lat = num("source_lat");
  if (lon == null || lat == null) throw new Error(t("planner.pick_first"));
  const kind = f.elements.release_kind.value;
  let release;
  state.sourceTerm = null;
  if (kind === "continuous") {
    release = { kind: "continuous", rate_g_s: num("rate_g_s"), duration_s: num("duration_s") };
  } else if (kind === "instantaneous") {
    release = { kind: "instantaneous", mass_g: num("mass_kg") * 1000 };
  } else {
    const q = new URLSearchParams({ chemical: f.elements.chemical.value, hole_diameter_mm: f.elements.hole_diameter_mm.value,
      inventory_kg: f.elements.inventory_kg.value, temperature_c: f.elements.temperature_c.value });
    state.sourceTerm = await getJSON(`/scenarios/tank-hole?${q}`);
    release = state.sourceTerm.release;
  }
  const weather = { wind_speed_m_s: num("wind_speed_m_s"), wind_from_deg: num("wind_from_deg"), terrain: f.elements.terrain.value };
  if (f.elements.stability.value === "auto") {
    weather.daytime = f.elements.daytime.checked;
    if (weather.daytime) weather.insolation = f.elements.insolation.value;
    else weather.cloud_cover_oktas = num("cloud_cover_oktas");
  } else {
    weather.stability = f.elements.stability.value;
  }
  const scenario = { source_lon: lon, source_lat: lat, chemical: f.elements.chemical.value, release, weather };
  const title = f.elements.title.value.trim();
  if (title) scenario.title = title;
  return scenario;
}

async function run() {
  const button = document.getElementById("run");
  const error = document.getElementById("form-error");
  error.textContent = "";
  button.disabled = true;
  button.textContent = t("planner.running");
  document.body.dataset.run = "running";
  try {
    const scenario = await buildScenario();
    const saved = await postJSON("/scenarios", scenario);
    show(saved);
    history.replaceState(null, "", `/planner?scenario=${saved.id}`);
    toast(t("planner.saved", { id: saved.id }));
    document.body.dataset.run = "done";
  } catch (err) {
    error.textContent = err.message;
    document.body.dataset.run = "error";
  } finally {
    button.disabled = false;
    button.textContent = t("planner.run");
  }
}

async function openScenario(id) {
  try {
    const saved = await getJSON(`/scenarios/${id}`);
    const p = saved.params;
    const f = form();
    setSource(p.source_lon, p.source_lat);
    f.elements.chemical.value = p.chemical;
    f.elements.wind_speed_m_s.value = p.weather.wind_speed_m_s;
    f.elements.wind_from_deg.value = p.weather.wind_from_deg;
    f.elements.stability.value = p.weather.stability ?? "D";
    f.elements.terrain.value = p.weather.terrain ?? "rural";
    f.elements.title.value = saved.title ?? "";
    const kind = document.getElementById("release-kind");
    kind.value = p.release.kind;
    if (p.release.kind === "continuous") {
      f.elements.rate_g_s.value = p.release.rate_g_s;
      if (p.release.duration_s) f.elements.duration_s.value = p.release.duration_s;
    } else {
      f.elements.mass_kg.value = p.release.mass_g / 1000;
    }
    kind.dispatchEvent(new Event("change"));
    show(saved);
    document.body.dataset.run = "done";
  } catch (err) {
    toast(t("common.error", { reason: err.message }), { error: true });
  }
}

// ---- drawing and listing ---------------------------------------------------------------

function addResultLayers() {
  const empty = { type: "FeatureCollection", features: [] };
  state.map.addSource("scenario", { type: "geojson", data: empty });
  state.map.addLayer({ id: "scenario-zones", type: "fill", source: "scenario", filter: ["==", ["get", "kind"], "threat_zone"],
    paint: { "fill-color": ["coalesce", ["get", "colour"], "#fa8c16"], "fill-opacity": 0.35 } });
  state.map.addLayer({ id: "scenario-zone-lines", type: "line", source: "scenario", filter: ["==", ["get", "kind"], "threat_zone"],
    paint: { "line-color": ["coalesce", ["get", "colour"], "#fa8c16"], "line-width": 2 } });
  state.map.addLayer({ id: "scenario-band", type: "line", source: "scenario", filter: ["==", ["get", "kind"], "wind_direction_confidence"],
    paint: { "line-color": "#595959", "line-width": 1.5, "line-dasharray": [3, 2] } });
  state.map.addLayer({ id: "scenario-source", type: "circle", source: "scenario", filter: ["==", ["get", "kind"], "source"],
    paint: { "circle-color": "#000", "circle-radius": 5, "circle-stroke-color": "#fff", "circle-stroke-width": 2 } });
}

function show(saved) {
  state.scenario = saved;
  // largest zone first so the most serious draws on top
  const features = [...saved.result.features].sort((a, b) => (a.properties.tier ?? 9) - (b.properties.tier ?? 9));
  state.map.getSource("scenario").setData({ type: "FeatureCollection", features });
  const bounds = new maplibregl.LngLatBounds();
  for (const feat of features) extend(bounds, feat.geometry.coordinates);
  if (!bounds.isEmpty()) state.map.fitBounds(bounds, { padding: 60, maxZoom: 15, duration: 600 });
  renderResults();
}

function extend(bounds, coords) {
  if (typeof coords[0] === "number") bounds.extend(coords);
  else for (const c of coords) extend(bounds, c);
}

const LIMITS = [["dense gas", "limits.dense_gas"], ["wind ", "limits.calm"], ["very stable", "limits.stable"],
  ["threat zone reaches", "limits.far"], ["threat zone ends", "limits.near"], ["release lasts", "limits.long"],
  ["fires, explosions", "limits.always"]];

function plainLimit(text) {
  const hit = LIMITS.find(([prefix]) => text.startsWith(prefix));
  return hit ? t(hit[1]) : text;
}

function help(rows) {
  if (!rows?.length) return `<p>${t("planner.none_outside")}</p>`;
  return `<table><tr><th>${t("planner.name")}</th><th>${t("planner.distance")}</th></tr>`
    + rows.map((r) => `<tr><td>${escapeHtml(r.name)}</td><td>${formatDistance(r.distance_m)}</td></tr>`).join("") + "</table>";
}

function renderResults() {
  const el = document.getElementById("results");
  const s = state.scenario;
  if (!s) { el.innerHTML = ""; return; }
  const impact = s.impact;
  const st = state.sourceTerm;
  const zones = impact.zones.map((z) => {
    const reached = z.max_downwind_m > 0;
    const pt = z.protection_targets;
    return `<li class="zone tier-${z.tier}" data-tier="${z.tier}">
      <b>${escapeHtml(t("planner.zone", { level: z.level, ppm: z.threshold_ppm, dist: formatDistance(z.max_downwind_m) }))}</b>
      ${reached && pt ? `<div>${t("planner.people")}: <b data-people="${z.tier}">${formatNumber(pt.population)}</b> ·
        ${t("planner.targets")}: <b data-targets="${z.tier}">${formatNumber(pt.count)}</b> ·
        ${t("planner.enterprises")}: <b>${formatNumber(z.enterprises.count)}</b></div>
        ${pt.sensitive.length ? `<div>${t("planner.sensitive")}: ${pt.sensitive.slice(0, 8).map((x) => escapeHtml(x.name)).join("、")}</div>` : ""}
        ${z.enterprises.items.length ? `<div>${t("planner.enterprises")}: ${z.enterprises.items.slice(0, 8).map((x) => escapeHtml(x.name)).join("、")}</div>` : ""}`
    : `<div>${t("planner.no_zone")}</div>`}</li>`;
  }).join("");
  el.innerHTML = `
    <h2>${escapeHtml(s.title ?? `#${s.id}`)}</h2>
    <p>${t("planner.saved", { id: s.id })} · <a href="/planner?scenario=${s.id}">${t("planner.link")}</a></p>
    ${st ? `<p class="hint">${escapeHtml(t("planner.source_term", { rate: formatNumber(Math.round(st.release.rate_g_s)), dur: formatNumber(Math.round(st.release.duration_s)), method: st.method }))}</p>` : ""}
    <h3>${t("planner.zones")}</h3><ol class="zone-list" id="zone-list">${zones}</ol>
    <p><i class="swatch line" style="border-color:#595959;border-top-style:dashed"></i>${t("planner.band")}</p>
    <h3>${t("planner.limits")}</h3>
    <ul class="warnings" id="warnings">${(s.warnings || []).map((w) => `<li title="${escapeHtml(w)}">${escapeHtml(plainLimit(w))}</li>`).join("")}</ul>
    <h3>${t("planner.teams")}</h3><div id="teams">${help(impact.nearest_rescue_teams)}</div>
    <h3>${t("planner.depots")}</h3><div id="depots">${help(impact.nearest_supply_depots)}</div>
    <h3>${t("export.title")}</h3>
    <div class="exports">
      <button type="button" data-export="html">${t("planner.export.html")}</button>
      <button type="button" data-export="geojson">${t("planner.export.geojson")}</button>
      <button type="button" data-export="tif">${t("planner.export.tif")}</button>
    </div>`;
  for (const b of el.querySelectorAll("button[data-export]")) {
    b.addEventListener("click", () => {
      const ext = b.dataset.export;
      download(`/scenarios/${s.id}/export.${ext}${ext === "html" ? `?lang=${lang()}` : ""}`, `scenario-${s.id}.${ext}`)
        .catch((err) => toast(err.message, { error: true }));
    });
  }
}

main().catch((err) => {
  console.error(err);
  toast(t("common.error", { reason: err.message }), { error: true, ms: 60000 });
});
