// The live ticker: one line per change from /events, newest first.
import { formatNumber, label, t } from "../i18n.js";
import { escapeHtml } from "../mapbase.js";
import { FOCUSING, RAISING, TICKER_MAX, clockParts, known, state } from "./state.js";

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

export function prependTicker(entry) {
  const ol = document.getElementById("ticker");
  const li = tickerItem(entry);
  li.classList.add("new");
  ol.prepend(li);
  while (ol.children.length > TICKER_MAX) ol.lastElementChild.remove();
  document.getElementById("ticker-empty").hidden = true;
}

export function renderTicker() {
  const ol = document.getElementById("ticker");
  ol.replaceChildren(...state.events.map(tickerItem));
  document.getElementById("ticker-empty").hidden = state.events.length > 0;
}
