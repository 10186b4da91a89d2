// Moving the wall's map without failed tile requests, and how it looks from across the room.
import { FADE_MS, SENSORS_MIN_ZOOM, scale, state } from "./state.js";

/** Bigger labels and outlines: the wall is read from across the room. */
export function tuneMap() {
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
export async function moveTo({ bounds = null, center = null, zoom = null, fade = true }) {
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
export function padding() {
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

export function highlight(region) {
  if (!state.map.getLayer("region-highlight")) return;
  const filter = region.level === "county" ? ["==", ["get", "adcode"], region.adcode]
    : region.level === "city" ? ["==", ["slice", ["get", "adcode"], 0, 4], region.adcode.slice(0, 4)]
      : ["==", ["get", "adcode"], ""];
  state.map.setFilter("region-highlight", filter);
}

export function setRiskSurface(visible) {
  for (const layer of state.map.getStyle().layers) {
    if (String(layer.metadata?.["onemap:layer"] ?? "").startsWith("risk_cells")) {
      state.map.setLayoutProperty(layer.id, "visibility", visible ? "visible" : "none");
    }
  }
}
