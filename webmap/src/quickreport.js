// Accident quick report (事故快报) from the desk map: a small non-modal form beside
// the map. The place comes from a map click or typed coordinates; the enterprise
// is picked among those near that place (an enterprise user reports its own);
// the report goes to POST /accident-reports, appears on the wall via /events and
// can be opened in the planner (/planner?accident=ID).
import { getJSON, postJSON } from "./api.js";
import { t } from "./i18n.js";
import { escapeHtml, maplibregl } from "./mapbase.js";
import { currentUser, toast } from "./session.js";

const TYPES = ["leak", "fire", "explosion", "poisoning", "burn", "collapse", "fall", "mechanical", "lifting",
  "electrocution", "vehicle", "struck", "drowning", "other"];
const NEARBY_DEG = 0.01; // enterprises within about a kilometre of the place are offered

const FORM = `
<form id="quick-form" class="quick-form" autocomplete="off" novalidate>
  <h2 data-i18n="quick.title"></h2>
  <label><span data-i18n="quick.occurred_at"></span><input name="occurred_at" type="datetime-local" required></label>
  <label><span data-i18n="quick.type"></span><select name="accident_type"></select></label>
  <div class="quick-place">
    <button type="button" id="quick-pick" data-i18n="quick.pick"></button>
    <label><span data-i18n="quick.lon"></span><input name="lon" type="number" step="any" min="73" max="136"></label>
    <label><span data-i18n="quick.lat"></span><input name="lat" type="number" step="any" min="3" max="54"></label>
  </div>
  <label id="quick-enterprise-row"><span data-i18n="quick.enterprise"></span><select name="enterprise_id"></select></label>
  <label><span data-i18n="quick.description"></span><textarea name="description" rows="3" maxlength="4000" required></textarea></label>
  <div class="quick-figures">
    <label><span data-i18n="quick.deaths"></span><input name="deaths" type="number" min="0" step="1" value="0"></label>
    <label><span data-i18n="quick.serious"></span><input name="serious_injuries" type="number" min="0" step="1" value="0"></label>
    <label><span data-i18n="quick.minor"></span><input name="minor_injuries" type="number" min="0" step="1" value="0"></label>
    <label><span data-i18n="quick.missing"></span><input name="missing" type="number" min="0" step="1" value="0"></label>
  </div>
  <label><span data-i18n="quick.chemical"></span><input name="chemical" maxlength="100"></label>
  <label><span data-i18n="quick.contact"></span><input name="contact" maxlength="100"></label>
  <p id="quick-error" class="error" role="alert"></p>
  <p id="quick-done" class="hint" hidden></p>
  <div class="quick-actions">
    <button type="submit" class="run" id="quick-submit" data-i18n="quick.submit"></button>
    <button type="button" id="quick-close" data-i18n="common.close"></button>
  </div>
</form>`;

const state = { map: null, picking: false, marker: null, dialog: null };

/** Is the next map click taken by the quick report (the page then skips its popups)? */
export function isPicking() {
  return state.picking;
}

/** Put the "report an accident" button in `slot` for logged-in enterprise and regulator users. */
export function setupQuickReport(slot, map) {
  state.map = map;
  const user = currentUser();
  if (!slot || !user || user.role === "public") return;
  slot.innerHTML = `<h3 data-i18n="quick.section"></h3><button type="button" id="quick-open" class="danger" data-i18n="quick.open"></button>`;
  translate(slot);
  slot.hidden = false;
  slot.querySelector("#quick-open").addEventListener("click", open);
  map.on("click", onPick);
}

function translate(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
}

function localNow() {
  const d = new Date(Date.now() - new Date().getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

function open() {
  if (!state.dialog) {
    const dialog = document.createElement("dialog");
    dialog.id = "quick-dialog";
    dialog.className = "quick-dialog";
    dialog.innerHTML = FORM;
    document.body.appendChild(dialog);
    const f = dialog.querySelector("form");
    f.elements.accident_type.innerHTML = TYPES.map((k) => `<option value="${k}">${escapeHtml(t(`accident.type.${k}`))}</option>`).join("");
    dialog.querySelector("#quick-pick").addEventListener("click", () => setPicking(!state.picking));
    dialog.querySelector("#quick-close").addEventListener("click", close);
    f.elements.lon.addEventListener("change", placeFromInputs);
    f.elements.lat.addEventListener("change", placeFromInputs);
    f.addEventListener("submit", (ev) => { ev.preventDefault(); submit(); });
    state.dialog = dialog;
  }
  const f = state.dialog.querySelector("form");
  translate(state.dialog);
  f.reset();
  f.elements.occurred_at.value = localNow();
  state.dialog.querySelector("#quick-error").textContent = "";
  state.dialog.querySelector("#quick-done").hidden = true;
  const own = currentUser()?.role === "enterprise";
  state.dialog.querySelector("#quick-enterprise-row").hidden = own;
  f.elements.enterprise_id.innerHTML = `<option value="">${escapeHtml(t(own ? "quick.own" : "quick.no_enterprise"))}</option>`;
  state.dialog.show(); // not modal: the map stays clickable for picking the place
  setPicking(true);
}

function close() {
  setPicking(false);
  state.marker?.remove();
  state.marker = null;
  state.dialog?.close();
}

function setPicking(on) {
  state.picking = on;
  state.map.getCanvas().style.cursor = on ? "crosshair" : "";
  const button = state.dialog?.querySelector("#quick-pick");
  if (button) button.classList.toggle("active", on);
  document.body.dataset.picking = on ? "accident" : "";
}

function onPick(ev) {
  if (!state.picking) return;
  const f = state.dialog.querySelector("form");
  f.elements.lon.value = ev.lngLat.lng.toFixed(6);
  f.elements.lat.value = ev.lngLat.lat.toFixed(6);
  setPicking(false);
  placeFromInputs();
}

async function placeFromInputs() {
  const f = state.dialog.querySelector("form");
  const lon = Number(f.elements.lon.value);
  const lat = Number(f.elements.lat.value);
  if (!f.elements.lon.value || !f.elements.lat.value || !Number.isFinite(lon) || !Number.isFinite(lat)) return;
  state.marker?.remove();
  state.marker = new maplibregl.Marker({ color: "#a8071a" }).setLngLat([lon, lat]).addTo(state.map);
  if (currentUser()?.role === "enterprise") return;
  const bbox = [lon - NEARBY_DEG, lat - NEARBY_DEG, lon + NEARBY_DEG, lat + NEARBY_DEG].map((v) => v.toFixed(6)).join(",");
  try {
    const near = (await getJSON(`/enterprises?bbox=${bbox}&limit=50`)).data;
    near.sort((a, b) => dist(a, lon, lat) - dist(b, lon, lat));
    const options = near.map((e) => `<option value="${e.id}">${escapeHtml(e.name)}</option>`);
    f.elements.enterprise_id.innerHTML = `<option value="">${escapeHtml(t("quick.no_enterprise"))}</option>${options.join("")}`;
    if (near.length) f.elements.enterprise_id.value = String(near[0].id);
  } catch (err) {
    toast(t("common.error", { reason: err.message }), { error: true });
  }
}

function dist(e, lon, lat) {
  const [x, y] = e.geometry?.coordinates ?? [Infinity, Infinity];
  return (x - lon) ** 2 + (y - lat) ** 2;
}

async function submit() {
  const f = state.dialog.querySelector("form");
  const error = state.dialog.querySelector("#quick-error");
  error.textContent = "";
  const body = {
    // the browser's own clock and zone, sent with its offset (UTC): the time the officer typed, wherever the desk is
    occurred_at: f.elements.occurred_at.value ? new Date(f.elements.occurred_at.value).toISOString() : "",
    accident_type: f.elements.accident_type.value,
    description: f.elements.description.value.trim(),
  };
  if (f.elements.lon.value !== "" || f.elements.lat.value !== "") {
    body.lon = Number(f.elements.lon.value);
    body.lat = Number(f.elements.lat.value);
  }
  if (f.elements.enterprise_id.value) body.enterprise_id = Number(f.elements.enterprise_id.value);
  for (const name of ["deaths", "serious_injuries", "minor_injuries", "missing"]) {
    if (f.elements[name].value !== "") body[name] = Number(f.elements[name].value);
  }
  for (const name of ["chemical", "contact"]) {
    const value = f.elements[name].value.trim();
    if (value) body[name] = value;
  }
  if (!body.description) {
    error.textContent = `${t("quick.description")}: ${t("quick.required")}`;
    return;
  }
  try {
    const saved = await postJSON("/accident-reports", body);
    const done = state.dialog.querySelector("#quick-done");
    done.innerHTML = `${escapeHtml(t("quick.saved", { id: saved.id, grade: t(`accident.class.${saved.accident_class}`) }))}
      <a href="/planner?accident=${saved.id}" id="quick-plan">${escapeHtml(t("quick.plan"))}</a>`;
    done.hidden = false;
    document.body.dataset.reported = String(saved.id);
    toast(t("quick.saved", { id: saved.id, grade: t(`accident.class.${saved.accident_class}`) }));
  } catch (err) {
    error.textContent = err.message;
  }
}
