// The command-centre wall (/wall): a dark, full-screen map of the jurisdiction
// that needs no one at the keyboard. It tours the jurisdiction and its
// children (cities under the province, counties under a city) on a timer,
// shows the key figures of the region on screen, lists live changes from
// /events, and jumps to a release scenario (or, later, an incident) the
// moment one is created, drawing its threat zones until the hold ends.
//
// URL: ?region=<adcode> (default: the user's jurisdiction), ?cycle=<seconds>
// (5–600, default 20), ?hold=<seconds> an incident pauses the tour (10–3600,
// default 180), ?lang=zh|en.
//
// Hooks for tests: #clock, #updated (.stale when the stream has been down for
// over 10 s), #ticker (<li data-kind data-id> per event, newest first), #kpis
// [data-kpi=...] (data-value holds the raw number), #banner (.tour or
// .incident), body[data-ready="wall"], body[data-stream="open"|"down"],
// body[data-region] (the region shown) and body[data-focus] ("scenario:<id>",
// "<entity>:<id>") while an incident holds the tour.
//
// The parts live in wall/: state.js (settings, shared state, helpers), tour.js,
// camera.js (moving the map), kpis.js, ticker.js, panels.js (clock, stamp,
// banner, legend) and focus.js (incidents). This file starts them and routes
// the event stream.
import { followEvents, getJSON, token } from "./api.js";
import { onLangChange, t } from "./i18n.js";
import { catalogue, createMap } from "./mapbase.js";
import { setupSession, toast } from "./session.js";
import { tuneMap } from "./wall/camera.js";
import { addIncidentLayers, focusIncident, focusScenario } from "./wall/focus.js";
import { alarmCount, refreshKpis, renderKpis, renderRanking, scheduleRefresh, setKpi } from "./wall/kpis.js";
import { markUpdated, renderBanner, renderLegend, renderStamp, tick } from "./wall/panels.js";
import {
  DEFAULT_REGION, ENDING, FOCUSING, KPI_EVERY_MS, QUIET, RAISING, TICKER_MAX, WALL_LAYERS, padAdcode, params, state,
} from "./wall/state.js";
import { prependTicker, renderTicker } from "./wall/ticker.js";
import { renderTour, scheduleCycle, showStep } from "./wall/tour.js";

// ---- start -----------------------------------------------------------------------

async function main() {
  document.title = t("wall.title");
  tick();
  setInterval(tick, 1000);
  // reload after a login; close the stream first so the navigation cancels nothing
  const user = await setupSession({ onLogin: () => { state.events$?.close(); location.reload(); }, loginHint: "wall.login_hint" });
  if (!token()) document.getElementById("login-dialog").showModal();
  setInterval(() => { // a wall runs for days: ask again if the session is lost
    const dialog = document.getElementById("login-dialog");
    if (!token() && !dialog.open) dialog.showModal();
  }, 60_000);

  const [regions, cat, api] = await Promise.all([getJSON("/regions"), catalogue(), getJSON("/openapi.json")]);
  state.cat = cat;
  state.paths = new Set(Object.keys(api.paths || {}));
  for (const r of regions.data) state.regions.set(r.adcode, r);
  const wanted = padAdcode(params.get("region")) ?? padAdcode(user?.jurisdiction) ?? DEFAULT_REGION;
  state.jurisdiction = state.regions.has(wanted) ? wanted : DEFAULT_REGION;
  const home = state.regions.get(state.jurisdiction);
  document.getElementById("jurisdiction").textContent = home.name;
  const children = regions.data.filter((r) => r.parent_adcode === state.jurisdiction)
    .sort((a, b) => a.adcode.localeCompare(b.adcode));
  state.steps = [state.jurisdiction, ...children.map((r) => r.adcode)];

  state.map = await createMap("map", { theme: "dark", interactive: false, layers: WALL_LAYERS, bounds: home.bbox });
  // without a listener MapLibre prints every failed tile to the console; a wall
  // outlives server restarts, so those are expected while the stream is down
  state.map.on("error", (ev) => { if (state.stream === "open") console.warn("map:", ev.error?.message ?? ev); });
  tuneMap();
  addIncidentLayers();
  if (state.steps.length > 1) {
    const level = state.regions.get(state.steps[1]).level;
    const title = document.getElementById("ranking-title");
    title.dataset.i18n = `wall.ranking.${level}`;
    title.textContent = t(title.dataset.i18n);
  }
  renderLegend();
  renderTour();

  await showStep(0, { fly: true, fade: false });
  document.body.dataset.ready = "wall";

  state.events$ = followEvents({ onEvent, onState });
  setInterval(() => { if (state.stream === "open") refreshKpis(); }, KPI_EVERY_MS);
  scheduleCycle();
  onLangChange(() => { document.title = t("wall.title"); renderKpis(false); renderTicker(); renderBanner(); renderLegend(); renderTour(); renderRanking(); });
  // for the browser tests: the map, the state, and a way to feed an event as if /events sent it
  window.onemapWall = { state, map: state.map, inject: (kind, data, id = "") => onEvent({ kind, data, id }) };
}

// ---- the event stream ----------------------------------------------------------

function onState(value) {
  state.stream = value;
  document.body.dataset.stream = value;
  document.getElementById("stream-dot").classList.toggle("down", value !== "open");
  if (value === "open") {
    const wasDown = state.downSince;
    state.downSince = null;
    // nothing is replayed: after a reconnect, refetch what is shown
    if (wasDown && document.body.dataset.ready) refreshKpis();
  } else if (!state.downSince) {
    state.downSince = Date.now();
  }
  renderStamp();
}

function onEvent({ kind, data, id }) {
  markUpdated();
  if (kind === "resync") {
    scheduleRefresh();
    return;
  }
  if (QUIET.test(kind)) {
    scheduleRefresh();
    return;
  }
  const [entity] = kind.split(".");
  const key = `${entity}:${data.id}`;
  if (RAISING.test(kind) && data.id != null) state.raised.set(key, data.a ?? null);
  else if (ENDING.test(kind)) state.raised.delete(key);
  state.events.unshift({ kind, data, seq: id, at: new Date() });
  state.events.length = Math.min(state.events.length, TICKER_MAX);
  prependTicker(state.events[0]);
  setKpi("alarms", alarmCount(), true);
  scheduleRefresh();
  if (data.n != null) return; // a bulk summary names no row
  if (kind === "scenario.created" && data.id != null) {
    focusScenario(data.id).catch((err) => toast(t("common.error", { reason: err.message }), { error: true }));
  } else if (FOCUSING.test(kind)) {
    focusIncident(kind, data).catch((err) => toast(t("common.error", { reason: err.message }), { error: true }));
  }
}

main().catch((err) => {
  toast(t("common.error", { reason: err.message }), { error: true, ms: 600_000 });
  document.body.dataset.ready = "error";
});
