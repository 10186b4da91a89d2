// The map every page shares: MapLibre with our own style (/map/style.json:
// offline basemap from the regions plus the catalogue layers), the layer
// catalogue (/layers: titles, legends, field labels in both languages), a
// layer switcher with legends and feature popups. Nothing here is typed twice:
// colours and labels come from the catalogue.
import { getJSON, transformRequest } from "./api.js";
import { formatNumber, label, lang, t } from "./i18n.js";

const maplibregl = window.maplibregl;

// CJK characters drawn from a local font by the browser; Latin and digits from /fonts.
const CJK_FONT = "'WenQuanYi Micro Hei', 'Noto Sans CJK SC', 'Microsoft YaHei', 'PingFang SC', sans-serif";

export const THEMATIC_GROUPS = [
  { name: "alarms", layers: ["alarms"] },
  { name: "accident_reports", layers: ["accident_reports"] },
  { name: "sensors", layers: ["sensors"] },
  { name: "enterprises", layers: ["enterprises"] },
  { name: "hazard_units", layers: ["hazard_units"] },
  { name: "hidden_dangers", layers: ["hidden_dangers"] },
  { name: "protection_targets", layers: ["protection_targets"] },
  { name: "rescue_teams", layers: ["rescue_teams"] },
  { name: "supply_depots", layers: ["supply_depots"] },
  { name: "risk", layers: ["risk_cells_r5", "risk_cells_r7", "risk_cells_r9"] },
  { name: "credit_grades", layers: ["credit_grades"] },
  { name: "inspection_tasks", layers: ["inspection_tasks"] },
];

let catalogueCache = null;

export async function catalogue() {
  if (!catalogueCache) {
    const body = await getJSON("/layers");
    catalogueCache = Object.fromEntries(body.data.map((l) => [l.name, l]));
  }
  return catalogueCache;
}

/** Create the map in `container`; resolves once the style has loaded. */
export async function createMap(container, { theme = "light", layers = null, interactive = true,
  center = null, zoom = null, bounds = null } = {}) {
  const params = new URLSearchParams({ theme });
  if (layers) params.set("layers", layers.join(","));
  const map = new maplibregl.Map({
    container,
    style: `${location.origin}/map/style.json?${params}`,
    transformRequest,
    localIdeographFontFamily: CJK_FONT,
    attributionControl: false,
    interactive,
    center: center ?? [120.15, 29.2],
    zoom: zoom ?? 6.3,
    maxZoom: 18,
    fadeDuration: 0,
    preserveDrawingBuffer: true, // screenshots of the canvas (tests, wall snapshots)
  });
  if (bounds) map.fitBounds(bounds, { padding: 20, animate: false });
  if (interactive) {
    map.addControl(new maplibregl.NavigationControl({ visualizePitch: false }), "top-right");
    map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-right");
  }
  await new Promise((resolve) => map.once("load", resolve));
  return map;
}

/** Style layer ids that draw catalogue layer `name` (the layer, its clusters, labels, decorations). */
export function styleLayersOf(map, name) {
  return map.getStyle().layers.filter((l) => l.metadata?.["onemap:layer"] === name).map((l) => l.id);
}

export function setGroupVisible(map, group, visible) {
  for (const name of group.layers) {
    for (const id of styleLayersOf(map, name)) map.setLayoutProperty(id, "visibility", visible ? "visible" : "none");
  }
}

export function groupVisible(map, group) {
  return group.layers.some((name) => styleLayersOf(map, name)
    .some((id) => map.getLayoutProperty(id, "visibility") !== "none"));
}

function legendHtml(layer) {
  return layer.legend.map((item) => {
    const swatch = layer.geometry === "Polygon" && layer.style.type === "line"
      ? `<i class="swatch line" style="border-color:${item.color}"></i>`
      : `<i class="swatch ${layer.style.type === "fill" ? "fill" : "dot"}" style="background:${item.color}"></i>`;
    return `<li>${swatch}${escapeHtml(label(item))}</li>`;
  }).join("");
}

/** The layer switcher with each group's legend under its checkbox. */
export function layerSwitcher(el, map, cat) {
  function render() {
    el.innerHTML = `<h3>${t("layers.title")}</h3>` + THEMATIC_GROUPS.map((g) => {
      const first = cat[g.layers[0]];
      const title = g.name === "risk" ? t("layers.risk") : label(first.title);
      const checked = groupVisible(map, g) ? "checked" : "";
      return `<div class="layer-group" data-group="${g.name}">
        <label><input type="checkbox" data-group="${g.name}" ${checked}> ${escapeHtml(title)}</label>
        <ul class="legend">${legendHtml(first)}</ul></div>`;
    }).join("");
    for (const box of el.querySelectorAll("input[type=checkbox]")) {
      box.addEventListener("change", () => {
        setGroupVisible(map, THEMATIC_GROUPS.find((g) => g.name === box.dataset.group), box.checked);
      });
    }
  }
  render();
  return { render };
}

export function escapeHtml(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
    "'": "&#39;" })[c]);
}

/** A readable value of a catalogue field (choices carry their labels in the legend). */
export function fieldValue(layer, field, value) {
  if (value == null || value === "") return "–";
  const choice = field.choices?.[String(value)];
  if (choice) return label(choice);
  const item = layer.legend.find((l) => l.value != null && String(l.value) === String(value));
  if (item && ["risk_colour", "level", "grade", "category"].includes(field.name)) return label(item);
  if (field.format === "date-time") {
    // an instant, in the reader's own clock (the duty officer's, not UTC), to the second
    const at = new Date(value);
    if (!Number.isNaN(at.getTime())) return at.toLocaleString(lang() === "en" ? "en-GB" : "zh-CN", { hour12: false });
  }
  if (typeof value === "boolean") return value ? "✔" : "✘";
  if (field.type === "number") return Number(value).toPrecision(3);
  if (field.type === "integer") return formatNumber(value);
  return String(value);
}

const POPUP_FIELDS = {
  alarms: ["level", "rule", "state", "value", "peak_value", "threshold", "raised_at", "escalation_level"],
  sensors: ["kind", "status", "latest_value", "unit", "latest_at", "chemical", "threshold_high", "threshold_high_high", "open_alarms"],
  accident_reports: ["accident_type", "accident_class", "status", "occurred_at", "deaths", "serious_injuries", "missing", "chemical"],
  enterprises: ["uscc", "industry", "scale", "status", "risk_colour", "risk_score", "address"],
  hazard_units: ["kind", "grade", "is_major", "s", "r", "exposed_people_500m"],
  hidden_dangers: ["category", "level", "status", "found_on", "deadline", "supervising_level"],
  protection_targets: ["kind", "category", "population"],
  rescue_teams: ["kind", "headcount", "capabilities", "phone"],
  supply_depots: ["level", "status"],
  risk_cells_r5: ["individual_risk", "population", "hazard_units", "open_dangers", "active_alarms"],
  risk_cells_r7: ["individual_risk", "population", "hazard_units", "open_dangers", "active_alarms"],
  risk_cells_r9: ["individual_risk", "population", "hazard_units", "open_dangers", "active_alarms"],
  credit_grades: ["grade", "score", "blacklisted", "listed_on", "as_of"],
  inspection_tasks: ["status", "result", "risk_colour", "stratum", "team_names", "inspected_on", "result_summary"],
};

/** HTML of a feature's popup: title, key facts, and (for resources) a link to its detail view. */
export function popupHtml(layer, props, { extraHtml = "" } = {}) {
  if (props.cluster || props.count) {
    return `<div class="popup"><b>${escapeHtml(label(layer.title))}</b><p>${t("popup.cluster", { n: formatNumber(props.count) })}</p></div>`;
  }
  const title = props.name ?? props.title ?? label(layer.title);
  const rows = (POPUP_FIELDS[layer.name] || []).map((name) => {
    const field = layer.fields.find((f) => f.name === name);
    if (!field || !(name in props)) return "";
    return `<tr><th>${escapeHtml(label(field))}</th><td>${escapeHtml(fieldValue(layer, field, props[name]))}</td></tr>`;
  }).join("");
  return `<div class="popup" data-layer="${layer.name}" data-id="${props.id ?? ""}">
    <b class="popup-title">${escapeHtml(title)}</b><span class="popup-kind">${escapeHtml(label(layer.title))}</span>
    <table>${rows}</table>${extraHtml}</div>`;
}

/** Which catalogue layer a rendered feature belongs to. */
export function layerOfFeature(feature) {
  return feature.layer?.metadata?.["onemap:layer"] ?? feature.sourceLayer;
}

export function clickableLayerIds(map) {
  return map.getStyle().layers
    .filter((l) => l.metadata?.["onemap:layer"] && (l.type === "circle" || l.type === "fill"))
    .map((l) => l.id);
}

export { maplibregl, lang };
