// The risk-distribution map (/): layers with legends, region drill-down with
// statistics, search, popups with a detail view, exports of the current view.
import { alarmActionsHtml, wireAlarmActions } from "./alarmactions.js";
import { download, getJSON } from "./api.js";
import { formatNumber, label, lang, onLangChange, t } from "./i18n.js";
import {
  THEMATIC_GROUPS, catalogue, clickableLayerIds, createMap, escapeHtml, fieldValue, groupVisible,
  layerOfFeature, layerSwitcher, maplibregl, popupHtml,
} from "./mapbase.js";
import { isPicking, setupQuickReport } from "./quickreport.js";
import { setupSession, toast } from "./session.js";

const PROVINCE = "330000";
const state = { path: [], map: null, cat: null, popup: null, switcher: null };

async function main() {
  await setupSession({ onLogin: () => location.reload() });
  const params = new URLSearchParams(location.search);
  state.cat = await catalogue();
  state.map = await createMap("map", { theme: params.get("theme") === "dark" ? "dark" : "light" });
  state.switcher = layerSwitcher(document.getElementById("layers"), state.map, state.cat);
  state.map.on("click", onMapClick);
  for (const id of clickableLayerIds(state.map)) {
    state.map.on("mouseenter", id, () => { state.map.getCanvas().style.cursor = "pointer"; });
    state.map.on("mouseleave", id, () => { state.map.getCanvas().style.cursor = ""; });
  }
  setupSearch();
  setupExports();
  setupOnlineBasemap();
  setupQuickReport(document.getElementById("quick-report"), state.map);
  document.getElementById("region-select").addEventListener("change", (ev) => {
    if (ev.target.value) drillTo(ev.target.value);
  });
  onLangChange(() => { state.switcher.render(); renderRegion(); });
  window.onemap = { map: state.map, drillTo }; // for the browser tests and the console
  document.body.dataset.ready = "map";
  await drillTo(params.get("region") || PROVINCE, { fly: !params.get("region") ? false : true });
  const focus = params.get("enterprise");
  if (focus) await showEnterprise(Number(focus));
}

// ---- region drill-down -------------------------------------------------------

let regionData = null;

async function drillTo(adcode, { fly = true } = {}) {
  try {
    const region = await getJSON(`/regions/${adcode}?geometry=false`);
    const children = region.children.length ? (await getJSON(`/regions?parent=${adcode}`)).data : [];
    const top = await topRisks(adcode, 5);
    const chain = [];
    for (let code = region.parent_adcode; code; ) {
      const parent = await getJSON(`/regions/${code}?geometry=false`);
      chain.unshift({ adcode: parent.adcode, name: parent.name, level: parent.level });
      code = parent.parent_adcode;
    }
    state.path = [...chain, { adcode: region.adcode, name: region.name, level: region.level }];
    regionData = { region, children, top: top.data };
    renderRegion();
    highlight(region);
    if (fly) state.map.fitBounds(region.bbox, { padding: 30, duration: 800 });
    document.body.dataset.region = adcode;
  } catch (err) {
    toast(t("common.error", { reason: err.message }), { error: true });
  }
}

/** The `n` highest-risk enterprises: by colour (red first), then score. */
async function topRisks(adcode, n) {
  const out = [];
  for (const colour of ["red", "orange", "yellow", "blue"]) {
    if (out.length >= n) break;
    const page = await getJSON(`/enterprises?adcode=${adcode}&risk_colour=${colour}&sort=-risk_score&limit=${n - out.length}`);
    out.push(...page.data);
  }
  return { data: out };
}

function highlight(region) {
  const filter = region.level === "county" ? ["==", ["get", "adcode"], region.adcode]
    : region.level === "city" ? ["==", ["slice", ["get", "adcode"], 0, 4], region.adcode.slice(0, 4)]
      : ["==", ["get", "adcode"], ""];
  state.map.setFilter("region-highlight", filter);
}

function renderRegion() {
  if (!regionData) return;
  const { region, children, top } = regionData;
  const crumbs = state.path.map((r, i) => (i === state.path.length - 1
    ? `<span class="crumb current">${escapeHtml(r.name)}</span>`
    : `<a href="#" class="crumb" data-adcode="${r.adcode}">${escapeHtml(r.name)}</a>`)).join(" › ");
  const bc = document.getElementById("breadcrumb");
  bc.innerHTML = crumbs;
  for (const a of bc.querySelectorAll("a[data-adcode]")) {
    a.addEventListener("click", (ev) => { ev.preventDefault(); drillTo(a.dataset.adcode); });
  }
  const select = document.getElementById("region-select");
  select.innerHTML = `<option value="">${t("region.pick")}</option>`
    + children.map((c) => `<option value="${c.adcode}">${escapeHtml(c.name)}</option>`).join("");
  select.disabled = !children.length;
  const s = region.stats;
  const e = s.enterprises;
  const h = s.hazard_units;
  const d = s.hidden_dangers;
  const p = s.protection_targets;
  const colour = (key) => `<li class="stat colour-${key}" data-stat="enterprises.${key}"><i class="swatch dot"></i>${t(`stats.${key}`)}<b>${formatNumber(e[key])}</b></li>`;
  document.getElementById("stats").innerHTML = `
    <h2 id="stats-title">${escapeHtml(region.name)} · ${t("region.stats")}</h2>
    <h3>${t("stats.enterprises")} <b data-stat="enterprises.total">${formatNumber(e.total)}</b></h3>
    <ul class="stat-list">${["red", "orange", "yellow", "blue", "unrated"].map(colour).join("")}</ul>
    <h3>${t("stats.hazard_units")} <b data-stat="hazard_units.total">${formatNumber(h.total)}</b></h3>
    <ul class="stat-list">
      <li class="stat" data-stat="hazard_units.major">${t("stats.major")}<b>${formatNumber(h.major)}</b></li>
      ${[1, 2, 3, 4].map((g) => `<li class="stat grade-${g}">${t("stats.grade", { g })}<b>${formatNumber(h[`grade_${g}`])}</b></li>`).join("")}
    </ul>
    <h3>${t("stats.dangers")} <b data-stat="hidden_dangers.total">${formatNumber(d.total)}</b></h3>
    <ul class="stat-list">
      <li class="stat">${t("stats.open")}<b data-stat="hidden_dangers.open">${formatNumber(d.open)}</b></li>
      <li class="stat warn">${t("stats.overdue")}<b data-stat="hidden_dangers.overdue">${formatNumber(d.overdue)}</b></li>
      <li class="stat danger">${t("stats.major_open")}<b data-stat="hidden_dangers.major_open">${formatNumber(d.major_open)}</b></li>
    </ul>
    <h3>${t("stats.targets")} <b>${formatNumber(p.total)}</b></h3>
    <ul class="stat-list"><li class="stat">${t("stats.population")}<b>${formatNumber(p.population)}</b></li></ul>`;
  const ent = state.cat.enterprises;
  const colourField = ent.fields.find((f) => f.name === "risk_colour");
  document.getElementById("top-risks").innerHTML = `<h3>${t("stats.top_risks")}</h3><ol>`
    + (top.length ? top.map((x) => `<li><a href="#" data-enterprise="${x.id}">${escapeHtml(x.name)}</a>
        <span class="badge colour-${x.risk_colour ?? "none"}">${escapeHtml(fieldValue(ent, colourField, x.risk_colour))}</span></li>`).join("")
      : `<li>${t("common.none")}</li>`) + "</ol>";
  for (const a of document.querySelectorAll("#top-risks a[data-enterprise]")) {
    a.addEventListener("click", (ev) => { ev.preventDefault(); showEnterprise(Number(a.dataset.enterprise)); });
  }
}

// ---- clicks and popups ---------------------------------------------------------

/**
 * A click on a point feature opens its popup. Otherwise it drills down one
 * level: province → the city clicked, city → the county clicked, county →
 * another county; on the current county it shows the risk cell under it.
 */
function onMapClick(ev) {
  if (isPicking()) return; // the quick report takes this click for the accident's place
  const hits = state.map.queryRenderedFeatures(ev.point, { layers: clickableLayerIds(state.map) });
  const point = hits.find((f) => f.layer.type === "circle");
  if (point) {
    openPopup(point, ev.lngLat);
    return;
  }
  const county = state.map.queryRenderedFeatures(ev.point, { layers: ["regions-hit"] })[0]?.properties.adcode;
  const here = state.path[state.path.length - 1];
  let target = null;
  if (county && here) {
    if (here.level === "province") target = `${county.slice(0, 4)}00`;
    else if (here.level === "city" && county.startsWith(here.adcode.slice(0, 4))) target = county;
    else if (county !== here.adcode) target = here.level === "city" ? `${county.slice(0, 4)}00` : county;
  }
  // municipal districts directly under a city code (e.g. 3302xx) exist; a city code always does
  if (target && target !== here.adcode) {
    drillTo(target);
    return;
  }
  const cell = hits.find((f) => f.layer.type === "fill");
  if (cell) openPopup(cell, ev.lngLat);
}

// layers whose popup links to the detail drawer (the others show their facts in the popup only)
const DETAIL_LAYERS = new Set(["enterprises", "hazard_units", "hidden_dangers"]);

function riskFactorsHtml(factors) {
  if (!factors?.length) return "";
  return `<div class="risk-factors"><h4>${t("popup.risk_factors")}</h4><ul>` + factors.map((f) => `<li>${escapeHtml(lang() === "en" ? f.label_en : f.label_zh)}
    <small>${escapeHtml(lang() === "en" ? (f.detail_en ?? f.detail ?? "") : (f.detail ?? ""))}</small> <b>+${f.points}</b></li>`).join("") + "</ul></div>";
}

/** A popup from the tile's properties at once, then completed from the record (USCC, address, risk factors). */
async function openPopup(feature, lngLat) {
  const name = layerOfFeature(feature);
  const layer = state.cat[name];
  const props = { ...feature.properties, id: feature.id ?? feature.properties.id };
  const render = (p) => {
    let extra = "";
    if (!p.count) {
      if (DETAIL_LAYERS.has(layer.name)) {
        extra += `<p><a href="#" class="popup-detail" data-layer="${layer.name}" data-id="${p.id}">${t("popup.details")}</a></p>`;
      }
      if (layer.name === "hazard_units") {
        extra += `<p><a class="popup-plan" href="/planner?unit=${p.id}">${t("popup.plan")}</a></p>`;
      }
      if (layer.name === "enterprises") extra += riskFactorsHtml(p.risk_factors);
      if (layer.name === "alarms") extra += alarmActionsHtml(p.moves ? p : null);
    }
    popup.setHTML(popupHtml(layer, p, { extraHtml: extra }));
    popup.getElement().querySelector(".popup-detail")?.addEventListener("click", (ev) => {
      ev.preventDefault();
      showDetail(layer.name, p.id);
    });
    wireAlarmActions(popup.getElement(), (record) => {
      if (state.popup === popup) render({ ...p, ...record, id: p.id });
    });
  };
  state.popup?.remove();
  const popup = new maplibregl.Popup({ maxWidth: "360px" }).setLngLat(lngLat).setHTML("").addTo(state.map);
  state.popup = popup;
  render(props);
  // an alarm is read from its own route (map-only layer): its unit, enterprise and next moves
  const path = layer.name === "alarms" ? "/alarms" : layer.path;
  if (!props.count && path && props.id != null) {
    try {
      const full = await getJSON(`${path}/${props.id}`);
      if (state.popup === popup) render({ ...props, ...full, id: props.id });
      popup.getElement().dataset.complete = "1";
    } catch { /* the tile's facts are already shown */ }
  }
}

async function showDetail(layerName, id) {
  const layer = state.cat[layerName];
  const drawer = document.getElementById("detail");
  drawer.hidden = false;
  drawer.innerHTML = `<p>${t("common.loading")}</p>`;
  try {
    const item = await getJSON(`${layer.path}/${id}`);
    const rows = layer.fields.filter((f) => f.name in item && f.type !== "object")
      .map((f) => `<tr><th>${escapeHtml(label(f))}</th><td>${escapeHtml(fieldValue(layer, f, item[f.name]))}</td></tr>`).join("");
    let extra = "";
    if (layerName === "enterprises") {
      const units = await getJSON(`/hazard-units?enterprise_id=${id}&limit=50`);
      const dangers = await getJSON(`/hidden-dangers?enterprise_id=${id}&limit=50&sort=-found_on`);
      extra = `<h3>${label(state.cat.hazard_units.title)} (${units.count})</h3><ul>${units.data.map((u) => `<li>${escapeHtml(u.name)}
          ${u.grade ? `<span class="badge grade-${u.grade}">${t("stats.grade", { g: u.grade })}</span>` : ""}
          <a href="/planner?unit=${u.id}">${t("popup.plan")}</a></li>`).join("")}</ul>
        <h3>${label(state.cat.hidden_dangers.title)} (${dangers.count})</h3><ul>${dangers.data.map((d) => `<li>${escapeHtml(d.title)}
          <span class="badge level-${d.level}">${escapeHtml(choiceOf("hidden_dangers", "level", d.level))}</span>
          ${escapeHtml(choiceOf("hidden_dangers", "status", d.status))}</li>`).join("")}</ul>`;
    }
    drawer.innerHTML = `<header><h2>${escapeHtml(item.name ?? item.title)}</h2>
      <button type="button" class="close">${t("detail.close")}</button></header>
      <table class="detail-table">${rows}</table>${extra}`;
    drawer.querySelector(".close").addEventListener("click", () => { drawer.hidden = true; });
  } catch (err) {
    drawer.innerHTML = `<p class="error">${escapeHtml(t("common.error", { reason: err.message }))}</p>`;
  }
}

function choiceOf(layerName, fieldName, value) {
  const layer = state.cat[layerName];
  return fieldValue(layer, layer.fields.find((f) => f.name === fieldName), value);
}

async function showEnterprise(id) {
  try {
    const item = await getJSON(`/enterprises/${id}`);
    const [lon, lat] = item.geometry.coordinates;
    state.map.flyTo({ center: [lon, lat], zoom: 15, duration: 800 });
    state.map.once("moveend", () => {
      const fake = { properties: { ...item, geometry: undefined }, id: item.id, layer: { metadata: { "onemap:layer": "enterprises" } } };
      openPopup(fake, [lon, lat]);
    });
  } catch (err) {
    toast(t("common.error", { reason: err.message }), { error: true });
  }
}

// ---- search --------------------------------------------------------------------

function setupSearch() {
  const input = document.getElementById("search-input");
  const box = document.getElementById("search-results");
  let timer = null;
  async function run() {
    const q = input.value.trim();
    if (!q) { box.hidden = true; return; }
    try {
      const res = await getJSON(`/enterprises?q=${encodeURIComponent(q)}&limit=10`);
      box.innerHTML = res.data.length
        ? `<p>${t("search.results", { n: res.count ?? res.data.length })}</p><ul>` + res.data.map((e) => `<li><a href="#" data-id="${e.id}">${escapeHtml(e.name)}</a><small>${escapeHtml(e.uscc)}</small></li>`).join("") + "</ul>"
        : `<p>${t("search.none")}</p>`;
      box.hidden = false;
      for (const a of box.querySelectorAll("a[data-id]")) {
        a.addEventListener("click", (ev) => {
          ev.preventDefault();
          box.hidden = true;
          showEnterprise(Number(a.dataset.id));
        });
      }
    } catch (err) {
      box.innerHTML = `<p class="error">${escapeHtml(t("common.error", { reason: err.message }))}</p>`;
      box.hidden = false;
    }
  }
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(run, 250); });
  document.getElementById("search").addEventListener("submit", (ev) => { ev.preventDefault(); run(); });
}

// ---- exports and settings -------------------------------------------------------

function viewQuery() {
  const b = state.map.getBounds();
  const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(",");
  const layers = THEMATIC_GROUPS.filter((g) => groupVisible(state.map, g) && g.name !== "risk").map((g) => g.name);
  return new URLSearchParams({ bbox, layers: layers.join(",") || "enterprises", lang: lang() });
}

function setupExports() {
  document.getElementById("export-report").addEventListener("click", () => {
    download(`/export/view.html?${viewQuery()}`, "onemap-report.html").catch((err) => toast(err.message, { error: true }));
  });
  document.getElementById("export-geojson").addEventListener("click", () => {
    const q = viewQuery();
    q.delete("lang");
    download(`/export/view.geojson?${q}`, "onemap-view.geojson").catch((err) => toast(err.message, { error: true }));
  });
}

function setupOnlineBasemap() {
  const box = document.getElementById("online-basemap");
  const url = document.getElementById("online-basemap-url");
  url.value = localStorage.getItem("onemap.online_basemap") || "";
  function apply() {
    url.hidden = !box.checked;
    if (state.map.getLayer("online-basemap")) state.map.removeLayer("online-basemap");
    if (state.map.getSource("online-basemap")) state.map.removeSource("online-basemap");
    if (box.checked && url.value.includes("{z}")) {
      localStorage.setItem("onemap.online_basemap", url.value);
      state.map.addSource("online-basemap", { type: "raster", tiles: [url.value], tileSize: 256 });
      state.map.addLayer({ id: "online-basemap", type: "raster", source: "online-basemap", paint: { "raster-opacity": 0.8 } }, "regions-hit");
    }
  }
  box.addEventListener("change", apply);
  url.addEventListener("change", apply);
}

main().catch((err) => {
  console.error(err);
  toast(t("common.error", { reason: err.message }), { error: true, ms: 60000 });
});
