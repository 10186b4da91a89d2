// The panels around the map: the clock, the freshness stamp, the banner, the legend.
import { t, label } from "../i18n.js";
import { escapeHtml } from "../mapbase.js";
import { STALE_AFTER_MS, clockParts, state } from "./state.js";

export function tick() {
  const now = new Date();
  const { date, weekday, time } = clockParts(now);
  const clock = document.getElementById("clock");
  clock.innerHTML = `<span class="date">${date} ${escapeHtml(weekday)}</span> <time class="time" datetime="${now.toISOString()}">${time}</time>`;
  renderStamp();
  if (state.holdUntil) renderBanner();
}

export function markUpdated() {
  state.lastUpdate = new Date();
  renderStamp();
}

export function renderStamp() {
  const el = document.getElementById("updated");
  const down = state.stream !== "open" && state.downSince ? Date.now() - state.downSince : 0;
  const stale = down > STALE_AFTER_MS;
  el.classList.toggle("stale", stale);
  if (stale) {
    const s = Math.floor(down / 1000);
    el.textContent = s < 120 ? t("wall.stale", { s }) : t("wall.stale_long", { m: Math.floor(s / 60) });
  } else if (state.lastUpdate) {
    el.textContent = t("wall.updated", { time: clockParts(state.lastUpdate).time });
  } else {
    el.textContent = t("wall.connecting");
  }
  el.dataset.lastUpdate = state.lastUpdate?.toISOString() ?? "";
}

export function renderBanner() {
  const el = document.getElementById("banner");
  let title;
  let sub;
  if (state.holdUntil && state.focus) {
    const left = Math.max(0, Math.ceil((state.holdUntil - Date.now()) / 1000));
    title = state.focus.title;
    sub = [state.focus.sub, t("wall.hold", { time: `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}` })]
      .filter(Boolean).join(" · ");
  } else {
    const name = state.regions.get(state.steps[state.step])?.name ?? "";
    title = t("wall.cycle", { name });
    sub = state.steps.length > 1 ? t("wall.step", { i: state.step + 1, n: state.steps.length }) : "";
  }
  el.className = `banner ${state.holdUntil ? "incident" : "tour"}`;
  el.innerHTML = `<strong class="banner-title">${escapeHtml(title)}</strong>`
    + (sub ? `<span class="banner-sub">${escapeHtml(sub)}</span>` : "");
}

export function renderLegend() {
  const el = document.getElementById("legend");
  if (!state.cat) return;
  const groups = ["alarms", "enterprises", "hazard_units", "hidden_dangers", "rescue_teams", ...(state.focus ? ["sensors"] : [])]
    .filter((name) => state.cat[name] && state.map.getStyle().layers
      .some((l) => l.metadata?.["onemap:layer"] === name && state.map.getLayoutProperty(l.id, "visibility") !== "none"));
  const zones = (state.focus?.fc?.features || []).filter((f) => f.properties?.kind === "threat_zone")
    .sort((a, b) => b.properties.tier - a.properties.tier);
  const zoneGroup = zones.length ? `<div class="legend-group zones"><b>${escapeHtml(t("wall.legend.zones"))}</b>`
    + zones.map((f) => `<span class="legend-item tier-${f.properties.tier}"><i></i>${escapeHtml(f.properties.level ?? "")}</span>`).join("")
    + `<span class="legend-item band"><i></i>${escapeHtml(t("planner.band"))}</span></div>` : "";
  el.innerHTML = zoneGroup + groups.map((name) => {
    const layer = state.cat[name];
    const items = layer.legend.filter((item) => item.value != null || layer.legend.length === 1);
    return `<div class="legend-group"><b>${escapeHtml(label(layer.title))}</b>`
      + items.map((item) => `<span class="legend-item"><i style="background:${item.color}"></i>${escapeHtml(label(item))}</span>`).join("")
      + "</div>";
  }).join("");
}
