// The key figures of the region shown, and the ranking of the jurisdiction's children.
import { getJSON } from "../api.js";
import { formatNumber, t } from "../i18n.js";
import { escapeHtml } from "../mapbase.js";
import { toast } from "../session.js";
import { markUpdated } from "./panels.js";
import { EVENT_REFRESH_MS, state } from "./state.js";

/** Fetch the figures of the region of the current step; true when they arrived. */
export async function refreshKpis({ touring = false } = {}) {
  const seq = ++state.kpiSeq;
  const adcode = state.focus?.adcode ?? state.steps[state.step];
  try {
    const childLevel = state.regions.get(state.steps[1])?.level;
    const [region, teams, alarms, ranking] = await Promise.all([
      getJSON(`/regions/${adcode}?geometry=false`),
      getJSON(`/rescue-teams?adcode=${adcode}&status=active&limit=1`),
      alarmsFromApi(),
      childLevel ? getJSON(`/stats/regions?level=${childLevel}&parent=${state.jurisdiction}`) : { data: [] },
    ]);
    if (seq !== state.kpiSeq) return false; // a newer refresh (another region) won
    const changedRegion = state.region?.adcode !== region.adcode;
    state.region = region;
    state.teams = teams.count ?? teams.data?.length ?? 0;
    state.alarmsApi = alarms;
    state.ranking = ranking.data;
    renderKpis(!touring && !changedRegion);
    renderRanking();
    markUpdated();
    return true;
  } catch (err) {
    if (state.stream === "open") toast(t("common.error", { reason: err.message }), { error: true });
    return false;
  }
}

/** Raised alarms from the alarms API, only when /openapi.json lists it (no 404s on the wall). */
async function alarmsFromApi() {
  if (!state.paths.has("/alarms")) return null;
  try {
    const body = await getJSON("/alarms?state=raised&limit=1");
    return { count: body.count ?? body.data?.length ?? (Array.isArray(body) ? body.length : 0) };
  } catch {
    return null;
  }
}

export function alarmCount() {
  let n = 0;
  for (const key of state.raised.keys()) {
    // raised alarms come from the API when it exists; incidents always from events
    if (!(state.alarmsApi && key.startsWith("alarm:"))) n += 1;
  }
  return n + (state.alarmsApi?.count ?? 0);
}

export function renderKpis(flash) {
  const region = state.region;
  if (!region) return;
  const e = region.stats.enterprises;
  const h = region.stats.hazard_units;
  const d = region.stats.hidden_dangers;
  const values = {
    enterprises: e.total, red: e.red, orange: e.orange, yellow: e.yellow, blue: e.blue, unrated: e.unrated,
    major_units: h.major, open_major: d.major_open, overdue: d.overdue, teams: state.teams, alarms: alarmCount(),
  };
  for (const [name, value] of Object.entries(values)) setKpi(name, value, flash);
  const pct = (n) => (e.total && n ? ((100 * n) / e.total).toFixed(n * 1000 < e.total ? 2 : 1) : "0");
  const subs = {
    red: t("wall.sub.share", { pct: pct(e.red) }),
    orange: t("wall.sub.share", { pct: pct(e.orange) }),
    major_units: t("wall.sub.units", { n: formatNumber(h.total) }),
    open_major: t("wall.sub.open", { n: formatNumber(d.open) }),
    overdue: t("wall.sub.total_dangers", { n: formatNumber(d.total) }),
    teams: t("wall.sub.scope", { name: region.name }),
  };
  for (const [name, text] of Object.entries(subs)) {
    const el = document.querySelector(`#kpis [data-sub="${name}"]`);
    if (el) el.textContent = text;
  }
  const bar = document.getElementById("colour-bar");
  for (const colour of ["red", "orange", "yellow", "blue", "unrated"]) {
    const seg = bar.querySelector(`.seg.${colour}`);
    seg.style.flexGrow = String(e[colour] || 0);
    seg.hidden = !e[colour];
  }
  document.querySelector("#kpis .colour-counts .unrated").hidden = !e.unrated;
  document.getElementById("kpis").dataset.region = region.adcode;
}

/** The children of the jurisdiction, worst first (red, then orange, then open major dangers). */
export function renderRanking() {
  const box = document.getElementById("ranking");
  box.hidden = !state.ranking.length;
  const rows = [...state.ranking].sort((a, b) => (b.enterprises.red - a.enterprises.red)
    || (b.enterprises.orange - a.enterprises.orange) || (b.hidden_dangers.major_open - a.hidden_dangers.major_open));
  const cell = (n, cls) => `<td class="${n ? cls : "zero"}">${formatNumber(n)}</td>`;
  document.querySelector("#ranking tbody").innerHTML = rows.map((r, i) => `<tr data-adcode="${r.adcode}"
      class="${r.adcode === state.steps[state.step] ? "current" : ""}"><td class="rank">${i + 1}</td>
      <th>${escapeHtml(r.name)}</th>${cell(r.enterprises.red, "red")}${cell(r.enterprises.orange, "orange")}
      ${cell(r.hidden_dangers.major_open, "danger")}${cell(r.hidden_dangers.overdue, "warn")}</tr>`).join("");
}

export function setKpi(name, value, flash) {
  const el = document.querySelector(`#kpis [data-kpi="${name}"]`);
  if (!el || value == null) return;
  const raw = String(value);
  if (el.dataset.value === raw) return;
  const had = el.dataset.value !== undefined;
  el.dataset.value = raw;
  el.textContent = formatNumber(value);
  if (flash && had) {
    const tile = el.closest(".kpi");
    tile.classList.remove("changed");
    void tile.offsetWidth; // restart the animation
    tile.classList.add("changed");
  }
}

export function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(() => refreshKpis(), EVENT_REFRESH_MS);
}
