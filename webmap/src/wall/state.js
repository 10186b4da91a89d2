// The wall's shared state, settings from the URL, and the small helpers every part uses.
import { lang, t } from "../i18n.js";

export const TZ = "Asia/Shanghai";
export const DEFAULT_REGION = "330000";
export const KPI_EVERY_MS = 30_000;
export const EVENT_REFRESH_MS = 1_500; // KPIs are refetched this long after the last event of a burst
export const STALE_AFTER_MS = 10_000;
export const TICKER_MAX = 30;
export const FADE_MS = 250;

// what the wall draws: the risk surface, enterprises by colour, hidden dangers, rescue teams, sensors, incidents, alarms
export const WALL_LAYERS = ["risk_cells_r5", "risk_cells_r7", "risk_cells_r9", "hidden_dangers", "rescue_teams", "enterprises", "sensors", "accident_reports", "alarms"];
// the sensors only close up (an incident's surroundings: which detectors read what), not on the tour
export const SENSORS_MIN_ZOOM = 12;

// new alarms / incidents (counted on the KPI tile) and the kinds that end them
export const RAISING = /^(alarm\.raised|incident\.created|accident_report\.created)$/;
export const ENDING = /^(alarm|incident|accident_report)\.(cleared|handled|deleted|closed)$/;
// changes that refresh the figures but stay off the ticker: an open alarm's peak value, return to normal or
// scenario link (one alarm in an excursion would otherwise fill the ticker)
export const QUIET = /^alarm\.updated$/;
// kinds that move the map to a place: future incident modules
export const FOCUSING = /^(incident|accident_report)\.(?!deleted$|cleared$|closed$)|^alarm\.raised$/;
// REST collections of those entities, used only when /openapi.json lists them
export const COLLECTIONS = { incident: "/incidents", accident_report: "/accident-reports", alarm: "/alarms" };

export const params = new URLSearchParams(location.search);
export const cycleMs = seconds(params.get("cycle"), 20, 5, 600) * 1000;
export const HOLD_MS = seconds(params.get("hold"), 180, 10, 3600) * 1000; // an incident pauses the tour this long

export const state = {
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
export function padAdcode(code) {
  const s = String(code ?? "").trim();
  return /^\d{2,6}$/.test(s) ? s.padEnd(6, "0") : null;
}

/** 1 on a 1080-line screen, 2 on a 2160-line wall. */
export function scale() {
  return Math.min(2.6, Math.max(1, window.innerHeight / 1080));
}

/** The first of `keys` the message table knows, else `fallback`. */
export function known(keys, fallback) {
  for (const key of keys) {
    const text = t(key);
    if (text !== key) return text;
  }
  return fallback;
}

export function clockParts(date) {
  const locale = lang() === "en" ? "en-GB" : "zh-CN";
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {
    timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    second: "2-digit", hourCycle: "h23",
  }).formatToParts(date).map((p) => [p.type, p.value]));
  const weekday = new Intl.DateTimeFormat(locale, { timeZone: TZ, weekday: "short" }).format(date);
  return { date: `${parts.year}-${parts.month}-${parts.day}`, weekday, time: `${parts.hour}:${parts.minute}:${parts.second}` };
}
