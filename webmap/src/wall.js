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
import { followEvents, getJSON, token } from "./api.js";
import { formatDistance, formatNumber, label, lang, onLangChange, t } from "./i18n.js";
import { catalogue, createMap, escapeHtml, maplibregl } from "./mapbase.js";
import { setupSession, toast } from "./session.js";

const TZ = "Asia/Shanghai";
const DEFAULT_REGION = "330000";
const KPI_EVERY_MS = 30_000;
const EVENT_REFRESH_MS = 1_500; // KPIs are refetched this long after the last event of a burst
const STALE_AFTER_MS = 10_000;
const TICKER_MAX = 30;
const FADE_MS = 250;
// what the wall draws: the risk surface, enterprises by colour, hidden dangers, rescue teams, sensors, incidents, alarms
const WALL_LAYERS = ["risk_cells_r5", "risk_cells_r7", "risk_cells_r9", "hidden_dangers", "rescue_teams", "enterprises", "sensors", "accident_reports", "alarms"];
// the sensors only close up (an incident's surroundings: which detectors read what), not on the tour
const SENSORS_MIN_ZOOM = 12;

// new alarms / incidents (counted on the KPI tile) and the kinds that end them
const RAISING = /^(alarm\.raised|incident\.created|accident_report\.created)$/;
const ENDING = /^(alarm|incident|accident_report)\.(cleared|handled|deleted|closed)$/;
// changes that refresh the figures but stay off the ticker: an open alarm's peak value, return to normal or
// scenario link (one alarm in an excursion would otherwise fill the ticker)
const QUIET = /^alarm\.updated$/;
// kinds that move the map to a place: future incident modules
const FOCUSING = /^(incident|accident_report)\.(?!deleted$|cleared$|closed$)|^alarm\.raised$/;
// REST collections of those entities, used only when /openapi.json lists them
const COLLECTIONS = { incident: "/incidents", accident_report: "/accident-reports", alarm: "/alarms" };

const params = new URLSearchParams(location.search);
const cycleMs = seconds(params.get("cycle"), 20, 5, 600) * 1000;
const HOLD_MS = seconds(params.get("hold"), 180, 10, 3600) * 1000; // an incident pauses the tour this long

const state = {
  map: null,
  cat: null,
  paths: new Set(), // API paths from /openapi.json
  regions: new Map(), // adcode -> {adcode, name, level, parent_adcode, bbox}
  jurisdiction: DEFAULT_REGION,
  steps: [],
  step: 0,
  region: null, // /regions/{adcode} of the region shown
  teams: null,
  ranking: [], // /stats/regions of the jurisdiction's children
  cycleTimer: null,
  holdUntil: 0,
  holdTimer: null,
  focus: null, // {title, sub, impact}
  marker: null,
  moveSeq: 0,
  stream: "down",
  downSince: Date.now(),
  lastUpdate: null,
  refreshTimer: null,
  kpiSeq: 0,
  raised: new Map(), // "entity:id" -> adcode of alarms/incidents raised since the page opened
  alarmsApi: null, // {count} from /alarms?state=raised when the API has it
  events: [], // the ticker's entries, newest first
  events$: null, // the followEvents handle
};

function seconds(value, fallback, min, max) {
  const n = Number(value);
  if (value == null || value === "" || !Number.isFinite(n)) return fallback;
  return Math.min(max, Math.max(min, Math.round(n)));
}

/** "33" -> "330000"; null for anything that is not an adcode or its prefix. */
function padAdcode(code) {
  const s = String(code ?? "").trim();
  return /^\d{2,6}$/.test(s) ? s.padEnd(6, "0") : null;
}

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

/** 1 on a 1080-line screen, 2 on a 2160-line wall. */
function scale() {
  return Math.min(2.6, Math.max(1, window.innerHeight / 1080));
}

/** Bigger labels and outlines: the wall is read from across the room. */
function tuneMap() {
  const k = scale() * 1.25;
  for (const layer of state.map.getStyle().layers) {
    // cluster counts are unreadable from across the room and only clutter the risk picture
    // and so are the names of thousands of enterprises (an incident lists those it touches)
    const thematic = layer.metadata?.["onemap:layer"];
    if (layer.id.endsWith("-cluster-counts") || (thematic && layer.id.endsWith("-labels"))) {
      state.map.setLayoutProperty(layer.id, "visibility", "none");
    }
    if (thematic === "sensors") state.map.setLayerZoomRange(layer.id, SENSORS_MIN_ZOOM, 24);
    if (layer.type === "symbol") {
      const size = state.map.getLayoutProperty(layer.id, "text-size");
      if (typeof size === "number") state.map.setLayoutProperty(layer.id, "text-size", Math.round(size * k));
      state.map.setPaintProperty(layer.id, "text-halo-width", 2 * k);
    }
  }
  // land a shade lighter than the sea: the dark theme's pair is too close on a wall panel
  if (state.map.getLayer("land")) state.map.setPaintProperty("land", "fill-color", "#17283a");
  if (state.map.getLayer("region-highlight")) {
    state.map.setPaintProperty("region-highlight", "line-color", "#40c4ff");
    state.map.setPaintProperty("region-highlight", "line-width", 3 * k);
  }
}

// ---- the tour -----------------------------------------------------------------

function scheduleCycle() {
  clearTimeout(state.cycleTimer);
  if (state.steps.length > 1) state.cycleTimer = setTimeout(nextStep, cycleMs);
}

async function nextStep() {
  if (state.holdUntil) return;
  // no moves while the server is away: the tiles would fail
  if (state.stream === "open") await showStep((state.step + 1) % state.steps.length, { fly: true });
  scheduleCycle();
}

async function showStep(index, { fly = true, fade = true } = {}) {
  state.step = index;
  const adcode = state.steps[index];
  document.body.dataset.region = adcode;
  renderTour();
  for (const tr of document.querySelectorAll("#ranking tr[data-adcode]")) tr.classList.toggle("current", tr.dataset.adcode === adcode);
  const ok = await refreshKpis({ touring: true });
  if (!ok || state.holdUntil) return;
  highlight(state.region);
  renderBanner();
  if (fly) await moveTo({ bounds: state.region.bbox, fade });
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/** Resolves when the map has drawn everything it asked for, or after `ms`. */
function whenIdle(ms) {
  if (!state.map.isMoving() && state.map.areTilesLoaded()) return Promise.resolve();
  return Promise.race([new Promise((resolve) => { state.map.once("idle", resolve); }), sleep(ms)]);
}

/**
 * Move the map: a short fade, a jump, a fade back once the tiles are in.
 * Not flyTo: a flight requests tiles on its way and cancels them as it passes,
 * which shows up as failed requests; a wall must stay clean for days.
 */
async function moveTo({ bounds = null, center = null, zoom = null, fade = true }) {
  const seq = ++state.moveSeq;
  await whenIdle(1000); // let the tiles in flight arrive: moving now would cancel them
  if (seq !== state.moveSeq) return;
  const el = state.map.getContainer();
  if (fade) {
    el.classList.add("fading");
    await sleep(FADE_MS);
  }
  if (seq !== state.moveSeq) return;
  if (bounds) state.map.fitBounds(bounds, { padding: padding(), animate: false });
  else state.map.jumpTo({ center, zoom });
  await whenIdle(3000);
  if (seq === state.moveSeq) el.classList.remove("fading");
}

/** Room around a fitted area: clear of the banner, the tour list and the legend. */
function padding() {
  const el = state.map.getContainer();
  const pad = Math.round(Math.min(el.clientWidth, el.clientHeight) * 0.04);
  const box = (id) => document.getElementById(id)?.getBoundingClientRect();
  const frame = el.getBoundingClientRect();
  const tour = box("tour");
  const legend = box("legend");
  return {
    top: pad,
    left: pad,
    right: pad + (tour?.width ? frame.right - tour.left : 0),
    bottom: pad + (legend?.height ? frame.bottom - legend.top : 0),
  };
}

function highlight(region) {
  if (!state.map.getLayer("region-highlight")) return;
  const filter = region.level === "county" ? ["==", ["get", "adcode"], region.adcode]
    : region.level === "city" ? ["==", ["slice", ["get", "adcode"], 0, 4], region.adcode.slice(0, 4)]
      : ["==", ["get", "adcode"], ""];
  state.map.setFilter("region-highlight", filter);
}

function renderTour() {
  const el = document.getElementById("tour");
  el.innerHTML = state.steps.map((code, i) => `<li data-adcode="${code}" class="${i === state.step ? "current" : ""}">`
    + `${escapeHtml(state.regions.get(code)?.name ?? code)}</li>`).join("");
  el.hidden = state.steps.length < 2 || Boolean(state.holdUntil);
}

// ---- key figures ----------------------------------------------------------------

/** Fetch the figures of the region of the current step; true when they arrived. */
async function refreshKpis({ touring = false } = {}) {
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

function alarmCount() {
  let n = 0;
  for (const key of state.raised.keys()) {
    // raised alarms come from the API when it exists; incidents always from events
    if (!(state.alarmsApi && key.startsWith("alarm:"))) n += 1;
  }
  return n + (state.alarmsApi?.count ?? 0);
}

function renderKpis(flash) {
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
function renderRanking() {
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

function setKpi(name, value, flash) {
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

function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(() => refreshKpis(), EVENT_REFRESH_MS);
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

function markUpdated() {
  state.lastUpdate = new Date();
  renderStamp();
}

// ---- the ticker ------------------------------------------------------------------

/** The first of `keys` the message table knows, else `fallback`. */
function known(keys, fallback) {
  for (const key of keys) {
    const text = t(key);
    if (text !== key) return text;
  }
  return fallback;
}

function tickerItem(entry) {
  const { kind, data } = entry;
  const [entity, verb = ""] = kind.split(".");
  const li = document.createElement("li");
  li.dataset.kind = kind;
  li.dataset.id = data.id ?? "";
  if (entry.seq) li.dataset.seq = entry.seq;
  li.className = `kind-${entity}`;
  if (RAISING.test(kind) || FOCUSING.test(kind)) li.classList.add("alarm");
  if (kind === "scenario.created") li.classList.add("scenario");
  const d = data.d || {};
  let what = d.title ?? d.name ?? (data.id != null ? `#${data.id}` : "");
  let extra = "";
  if (d.title && d.name && d.name !== d.title) extra += `<span class="aside">${escapeHtml(d.name)}</span>`;
  if (data.n != null) what = t("wall.bulk_n", { n: formatNumber(data.n) });
  if (kind === "enterprise.risk_colour_changed" || (entity === "enterprise" && d.risk_colour && verb === "created")) {
    const item = state.cat?.enterprises.legend.find((l) => l.value === (d.risk_colour ?? null));
    if (item) extra += `<span class="badge colour-${d.risk_colour ?? "none"}">${escapeHtml(label(item))}</span>`;
  }
  if (entity === "alarm" && d.rule) {
    // "high-high" and the four-colour level, in the catalogue's words
    const layer = state.cat?.alarms;
    const rule = layer?.fields.find((f) => f.name === "rule")?.choices?.[d.rule];
    if (rule) what = `${label(rule)} #${data.id}`;
    const item = layer?.legend.find((l) => l.value === d.level);
    if (item) extra += `<span class="badge colour-${escapeHtml(d.level)}">${escapeHtml(label(item))}</span>`;
  }
  if (entity === "hidden_danger" && d.level === "major") {
    const item = state.cat?.hidden_dangers.legend.find((l) => l.value === "major");
    if (item) extra += `<span class="badge level-major">${escapeHtml(label(item))}</span>`;
  }
  if (verb === "status_changed" && d.status) {
    extra += `<span class="status">→ ${escapeHtml(known([`wall.status.${d.status}`], d.status))}</span>`;
  }
  const codes = Array.isArray(data.a) ? data.a : [data.a];
  const place = codes.length === 1 && codes[0] ? state.regions.get(codes[0])?.name : null;
  li.innerHTML = `<time>${escapeHtml(clockParts(entry.at).time)}</time>`
    + `<span class="ent">${escapeHtml(known([`entity.${entity}`, `wall.entity.${entity}`], entity))}</span>`
    + `<span class="verb">${escapeHtml(known([`event.${verb}`, `wall.event.${verb}`], verb))}</span>`
    + `<span class="what">${escapeHtml(what)}</span>${extra}`
    + (place ? `<span class="place">${escapeHtml(place)}</span>` : "");
  return li;
}

function prependTicker(entry) {
  const ol = document.getElementById("ticker");
  const li = tickerItem(entry);
  li.classList.add("new");
  ol.prepend(li);
  while (ol.children.length > TICKER_MAX) ol.lastElementChild.remove();
  document.getElementById("ticker-empty").hidden = true;
}

function renderTicker() {
  const ol = document.getElementById("ticker");
  ol.replaceChildren(...state.events.map(tickerItem));
  document.getElementById("ticker-empty").hidden = state.events.length > 0;
}

// ---- clock and freshness -------------------------------------------------------

function clockParts(date) {
  const locale = lang() === "en" ? "en-GB" : "zh-CN";
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {
    timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    second: "2-digit", hourCycle: "h23",
  }).formatToParts(date).map((p) => [p.type, p.value]));
  const weekday = new Intl.DateTimeFormat(locale, { timeZone: TZ, weekday: "short" }).format(date);
  return { date: `${parts.year}-${parts.month}-${parts.day}`, weekday, time: `${parts.hour}:${parts.minute}:${parts.second}` };
}

function tick() {
  const now = new Date();
  const { date, weekday, time } = clockParts(now);
  const clock = document.getElementById("clock");
  clock.innerHTML = `<span class="date">${date} ${escapeHtml(weekday)}</span> <time class="time" datetime="${now.toISOString()}">${time}</time>`;
  renderStamp();
  if (state.holdUntil) renderBanner();
}

function renderStamp() {
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

// ---- banner --------------------------------------------------------------------

function renderBanner() {
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

// ---- legend ----------------------------------------------------------------------

function renderLegend() {
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

// ---- incidents: scenarios now, alarms and accident reports later -------------

const TIER_COLOURS = ["match", ["get", "tier"], 3, "#ff3b3b", 2, "#ff8c00", 1, "#ffd400", "#ff8c00"];

function addIncidentLayers() {
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

async function focusScenario(id) {
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

async function focusIncident(kind, data) {
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

function setRiskSurface(visible) {
  for (const layer of state.map.getStyle().layers) {
    if (String(layer.metadata?.["onemap:layer"] ?? "").startsWith("risk_cells")) {
      state.map.setLayoutProperty(layer.id, "visibility", visible ? "visible" : "none");
    }
  }
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

function renderImpact() {
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

main().catch((err) => {
  toast(t("common.error", { reason: err.message }), { error: true, ms: 600_000 });
  document.body.dataset.ready = "error";
});
