// Copy the browser packages the pages use from node_modules into dist/vendor,
// where the API serves them at /static/vendor/. No bundler, no download: the
// pages are plain ES modules under src/.
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "dist", "vendor");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const copies = [
  ["maplibre-gl/dist/maplibre-gl.js", "maplibre-gl.js"],
  ["maplibre-gl/dist/maplibre-gl.css", "maplibre-gl.css"],
  ["maplibre-gl/LICENSE.txt", "maplibre-gl.LICENSE.txt"],
  ["leaflet/dist/leaflet.js", "leaflet.js"],
  ["leaflet/dist/leaflet.css", "leaflet.css"],
  ["leaflet/dist/images", "images"],
  ["leaflet/LICENSE", "leaflet.LICENSE.txt"],
];
for (const [from, to] of copies) {
  cpSync(join(here, "node_modules", from), join(out, to), { recursive: true });
}
console.log(`webmap: ${copies.length} vendor files in ${out}`);
