// Talking to the OneMap API (same origin): the bearer token, renewal, JSON
// fetches with errors that name the field, and a self-healing event stream.
//
// The token lives in localStorage ("onemap.token", with "onemap.token_expires"
// in epoch ms) so the three pages share one login. It is renewed through
// POST /auth/refresh a minute before it expires.

const TOKEN = "onemap.token";
const EXPIRES = "onemap.token_expires";
const RENEW_BEFORE_MS = 60_000;

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
  }
}

export function token() {
  const value = localStorage.getItem(TOKEN);
  const expires = Number(localStorage.getItem(EXPIRES) || 0);
  if (!value || (expires && expires < Date.now())) return null;
  return value;
}

function store(body) {
  localStorage.setItem(TOKEN, body.access_token);
  localStorage.setItem(EXPIRES, String(Date.now() + body.expires_in * 1000));
}

export function logout() {
  localStorage.removeItem(TOKEN);
  localStorage.removeItem(EXPIRES);
}

export async function login(username, password) {
  const form = new URLSearchParams({ username, password });
  const res = await fetch("/auth/token", { method: "POST", body: form });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, describe(body) || res.statusText);
  store(body);
  return body;
}

let renewing = null;

/** Renew the token when it is close to expiry; resolves to the current token (or null). */
export async function freshToken() {
  const value = token();
  if (!value) return null;
  const expires = Number(localStorage.getItem(EXPIRES) || 0);
  if (expires - Date.now() > RENEW_BEFORE_MS) return value;
  renewing ??= fetch("/auth/refresh", { method: "POST", headers: { Authorization: `Bearer ${value}` } })
    .then(async (res) => {
      if (res.ok) store(await res.json());
      else logout();
    })
    .catch(() => {})
    .finally(() => { renewing = null; });
  await renewing;
  return token();
}

/** Keep the token fresh while the page is open (walls run for days). */
export function keepTokenFresh() {
  setInterval(() => { freshToken(); }, 30_000);
}

export async function me() {
  if (!token()) return null;
  try {
    return await getJSON("/auth/me");
  } catch (err) {
    if (err.status === 401) logout();
    return null;
  }
}

/** The readable reason of an error body: "field: reason" when the API names one. */
export function describe(body) {
  if (!body) return "";
  const detail = body.detail ?? body.error ?? body.message;
  if (Array.isArray(detail)) {
    return detail.map((d) => (d.field ? `${d.field}: ${d.reason}`
      : `${(d.loc || []).filter((x) => x !== "body").join(".")}: ${d.msg}`)).join("; ");
  }
  if (detail && typeof detail === "object") return detail.field ? `${detail.field}: ${detail.reason ?? detail.message}` : JSON.stringify(detail);
  return detail ?? "";
}

export async function apiFetch(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const value = await freshToken();
  if (value) headers.set("Authorization", `Bearer ${value}`);
  const res = await fetch(path, { ...options, headers });
  if (!res.ok) {
    const body = await res.json().catch(() => null);
    throw new ApiError(res.status, describe(body) || res.statusText);
  }
  return res;
}

export async function getJSON(path) {
  return (await apiFetch(path, { headers: { Accept: "application/json" } })).json();
}

export async function postJSON(path, data) {
  const res = await apiFetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(data),
  });
  return res.json();
}

/** Download a same-origin resource with the token, saved under `filename`. */
export async function download(path, filename) {
  const res = await apiFetch(path);
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** MapLibre's transformRequest: our own URLs carry the token (tiles are filtered by jurisdiction). */
export function transformRequest(url) {
  const value = token();
  if (value && url.startsWith(location.origin)) {
    return { url, headers: { Authorization: `Bearer ${value}` } };
  }
  return { url };
}

/**
 * Follow /events (Server-Sent Events). EventSource cannot send headers, so the
 * token goes in ?access_token=. When the stream drops (server restart, token
 * renewal, network), it is reopened with backoff; `onState` hears
 * "open" / "down". Returns { close }.
 */
export function followEvents({ kinds = null, onEvent, onState = () => {} }) {
  let source = null;
  let closed = false;
  let retryMs = 1000;
  let timer = null;

  async function open() {
    if (closed) return;
    const params = new URLSearchParams();
    const value = await freshToken();
    if (value) params.set("access_token", value);
    if (kinds) params.set("kinds", kinds);
    source = new EventSource(`/events?${params}`);
    source.onopen = () => { retryMs = 1000; onState("open"); };
    source.onmessage = (msg) => deliver("message", msg);
    source.onerror = () => {
      onState("down");
      source.close();
      if (!closed) {
        clearTimeout(timer);
        timer = setTimeout(open, retryMs);
        retryMs = Math.min(retryMs * 2, 5_000);
      }
    };
    // named events (event: <kind>) arrive as their own types; listen to every kind we know of
    for (const kind of knownKinds) source.addEventListener(kind, (msg) => deliver(kind, msg));
  }

  function deliver(kind, msg) {
    let data = null;
    try { data = JSON.parse(msg.data); } catch { return; }
    onEvent({ kind: data.k || kind, data, id: msg.lastEventId });
  }

  // reopen before the token in the URL expires (the server ends such streams)
  const renew = setInterval(() => {
    if (source && token() && localStorage.getItem(EXPIRES) - Date.now() < 2 * RENEW_BEFORE_MS) {
      source.close();
      open();
    }
  }, 60_000);

  open();
  return {
    close() {
      closed = true;
      clearInterval(renew);
      clearTimeout(timer);
      source?.close();
    },
  };
}

// Kinds sent by the database (geo/events.py) and by later modules; unknown kinds are harmless.
const knownKinds = [];
for (const entity of ["enterprise", "hazard_unit", "hazard_unit_inventory", "hidden_danger", "protection_target",
  "rescue_team", "supply_depot", "depot_stock", "sensor", "scenario", "region", "alarm", "incident",
  "accident_report", "reading"]) {
  for (const verb of ["created", "updated", "deleted", "bulk", "raised", "acknowledged", "handled", "cleared",
    "escalated", "status_changed", "risk_colour_changed", "transition"]) {
    knownKinds.push(`${entity}.${verb}`);
  }
}
knownKinds.push("resync");
