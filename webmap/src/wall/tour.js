// The tour: the jurisdiction and its children, one after the other, on a timer.
import { escapeHtml } from "../mapbase.js";
import { highlight, moveTo } from "./camera.js";
import { refreshKpis } from "./kpis.js";
import { renderBanner } from "./panels.js";
import { cycleMs, state } from "./state.js";

export function scheduleCycle() {
  clearTimeout(state.cycleTimer);
  if (state.steps.length > 1) state.cycleTimer = setTimeout(nextStep, cycleMs);
}

async function nextStep() {
  if (state.holdUntil) return;
  // no moves while the server is away: the tiles would fail
  if (state.stream === "open") await showStep((state.step + 1) % state.steps.length, { fly: true });
  scheduleCycle();
}

export async function showStep(index, { fly = true, fade = true } = {}) {
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

export function renderTour() {
  const el = document.getElementById("tour");
  el.innerHTML = state.steps.map((code, i) => `<li data-adcode="${code}" class="${i === state.step ? "current" : ""}">`
    + `${escapeHtml(state.regions.get(code)?.name ?? code)}</li>`).join("");
  el.hidden = state.steps.length < 2 || Boolean(state.holdUntil);
}
