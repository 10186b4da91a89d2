"""A ``folium.Map`` as one self-contained HTML document that opens with no network.

Government intranets have no CDN and no internet. folium's template loads
Leaflet, jQuery, Bootstrap, Font Awesome and awesome-markers from CDNs and
draws OpenStreetMap tiles; :func:`to_offline_html` instead

* inlines Leaflet's JS and CSS from the npm package the project installs
  (``webmap/dist/vendor``, made by ``webmap/build.mjs``, else
  ``webmap/node_modules/leaflet/dist``; the folder is ``ONEMAP_WEBMAP_DIR`` or
  the repository's ``webmap/``), with the CSS images and Leaflet's default
  marker icons as ``data:`` URIs, so even an ``L.Marker`` requests nothing;
* drops the other CDN links; the two jQuery calls folium's templates make
  (``$(html)[0]`` in popups, ``$(document).ready``) get a few-line stand-in;
* removes tile layers (they are the network) and paints a plain background;
* refuses (:class:`NotOfflineSafe`) a map that names any remote address or
  uses a dropped library (``folium.Icon`` needs awesome-markers: draw a
  ``CircleMarker`` instead).

Leaflet's attribution link to its home page becomes plain text, so no
``src``/``href``/``url(`` in the document names a remote address (the
library's licence banner and the SVG namespace stay, as text).
"""

from __future__ import annotations

import base64
import html
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from geo.errors import GeoError

__all__ = ["OfflineAssetMissing", "NotOfflineSafe", "LeafletAssets", "webmap_dir", "leaflet_assets",
           "to_offline_html", "tooltip_text", "external_references", "DEFAULT_BACKGROUND"]

#: Light paper colour drawn under the features instead of map tiles.
DEFAULT_BACKGROUND = "#f2efe9"

_IMAGES = ("layers.png", "layers-2x.png", "marker-icon.png", "marker-icon-2x.png", "marker-shadow.png")


class OfflineAssetMissing(GeoError, FileNotFoundError):
    """Leaflet (JS, CSS or its images) is not installed where the exports read it."""


class NotOfflineSafe(GeoError, ValueError):
    """The map would load something from the network (tiles, a plugin, an icon font)."""


def webmap_dir() -> Path:
    """The browser-assets folder: ``ONEMAP_WEBMAP_DIR`` or the repository's ``webmap/``."""
    override = os.environ.get("ONEMAP_WEBMAP_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[1] / "webmap"


@dataclass(frozen=True)
class LeafletAssets:
    """Leaflet ready to inline: JS and CSS text, images as ``data:`` URIs, the folder they came from."""

    js: str
    css: str
    images: dict[str, str]
    source: Path

    @property
    def version(self) -> str:
        """Leaflet's version from its banner ("1.9.4"), or "" when there is no banner."""
        m = re.search(r"Leaflet (\d+\.\d+\.\d+)", self.js[:400])
        return m.group(1) if m else ""


def _candidates(root: Path) -> list[tuple[Path, Path]]:
    """(folder of leaflet.js and leaflet.css, folder of its images), preferred first."""
    vendor = root / "dist" / "vendor"
    package = root / "node_modules" / "leaflet" / "dist"
    return [(vendor, vendor / "images"), (package, package / "images")]


def leaflet_assets() -> LeafletAssets:
    """Leaflet's files from ``webmap/dist/vendor``, else ``webmap/node_modules/leaflet/dist``.

    Raises
    ------
    OfflineAssetMissing
        Naming the files looked for, when neither folder holds a complete Leaflet.
    """
    root = webmap_dir()
    tried: list[str] = []
    for folder, images in _candidates(root):
        files = [folder / "leaflet.js", folder / "leaflet.css", *(images / n for n in _IMAGES)]
        missing = [f for f in files if not f.is_file()]
        if not missing:
            stamp = tuple(f.stat().st_mtime_ns for f in files)
            return _read_assets(str(folder), str(images), stamp)
        tried.append(", ".join(str(f) for f in missing))
    raise OfflineAssetMissing(
        f"Leaflet is not installed for offline exports: missing {'; or '.join(tried)}. "
        f"Run `npm ci` and `node build.mjs` in {root} (or set ONEMAP_WEBMAP_DIR)")


@lru_cache(maxsize=4)
def _read_assets(folder: str, images: str, _stamp: tuple[int, ...]) -> LeafletAssets:
    """Read and prepare the files once per (folder, modification times)."""
    uris = {n: "data:image/png;base64," + base64.b64encode((Path(images) / n).read_bytes()).decode()
            for n in _IMAGES}
    css = (Path(folder) / "leaflet.css").read_text(encoding="utf-8")
    css = re.sub(r"url\(\s*['\"]?images/([\w.-]+)['\"]?\s*\)",
                 lambda m: f"url({uris[m.group(1)]})" if m.group(1) in uris else m.group(0), css)
    js = (Path(folder) / "leaflet.js").read_text(encoding="utf-8")
    js = re.sub(r"<a href=\"https?://leafletjs\.com\"", "<a", js)  # attribution: credit as text, no link
    js = re.sub(r"</(script)", r"<\\/\1", js, flags=re.IGNORECASE)
    css = re.sub(r"</(style)", r"<\\/\1", css, flags=re.IGNORECASE)
    return LeafletAssets(js=js, css=css, images=uris, source=Path(folder))


def tooltip_text(text: Any) -> str:
    """Text safe inside a folium ``Tooltip``/``Popup`` string (HTML- and JS-template-literal-escaped).

    folium writes those strings into a JavaScript template literal as HTML:
    ``<``, ``&``, quotes, backticks, ``$`` and backslashes become entities.

    >>> tooltip_text("a`${x}`<b>")
    'a&#96;&#36;{x}&#96;&lt;b&gt;'
    >>> tooltip_text(None)
    ''
    """
    if text is None:
        return ""
    out = html.escape(str(text), quote=True)
    return out.replace("`", "&#96;").replace("$", "&#36;").replace("\\", "&#92;")


_REMOTE = r"(?:[a-z][a-z0-9+.-]*:)?//"  # http://, https://, ftp://, or protocol-relative //
_REFERENCE_PATTERNS = (
    re.compile(r"""\b(?:src|href|srcset|action|poster)\s*=\s*\\?["']?\s*""" + _REMOTE, re.IGNORECASE),
    re.compile(r"""url\(\s*\\?["']?\s*""" + _REMOTE, re.IGNORECASE),
    re.compile(r"""@import\b""", re.IGNORECASE),
)


def external_references(document: str) -> list[str]:
    """Snippets of ``document`` that would load from another host (``src=``, ``href=``, ``url(``, ``@import``).

    >>> external_references('<img src="https://x.org/a.png"><a href="#top">')
    ['src="https://x.org/a.png"']
    >>> external_references("")
    []
    """
    found = []
    for pattern in _REFERENCE_PATTERNS:
        for m in pattern.finditer(document):
            found.append(re.split(r"[\s>]", document[m.start(): m.end() + 60])[0])
    return found


# Stand-ins for the two jQuery calls folium templates make, then Leaflet's default icons as data URIs.
_SHIM = """
if (typeof window.$ === "undefined") {
  window.$ = function (x) {
    if (typeof x === "string") {
      var t = document.createElement("template"); t.innerHTML = x.trim(); return [t.content.firstElementChild];
    }
    return {ready: function (f) {
      if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", f); } else { f(); }
    }};
  };
}
L.Icon.Default.imagePath = "";
L.Icon.Default.mergeOptions({iconUrl: "%(icon)s", iconRetinaUrl: "%(icon2x)s", shadowUrl: "%(shadow)s"});
"""


def _inline_leaflet(assets: LeafletAssets, background: str) -> dict[str, str]:
    """What replaces folium's Leaflet tags: the library, the stand-ins and icons; the CSS and background."""
    shim = _SHIM % {"icon": assets.images["marker-icon.png"], "icon2x": assets.images["marker-icon-2x.png"],
                    "shadow": assets.images["marker-shadow.png"]}
    return {
        "leaflet": f"<script>{assets.js}</script>\n<script>{shim}</script>",
        "leaflet_css": f"<style>{assets.css}\n.leaflet-container {{ background: {background}; }}</style>",
    }


def _tag_of(kind: str, url: str) -> re.Pattern[str]:
    """The ``<script src=url>`` or ``<link href=url>`` tag branca renders."""
    if kind == "js":
        return re.compile(r"<script\b[^>]*\bsrc=[\"']" + re.escape(url) + r"[\"'][^>]*>\s*</script>")
    return re.compile(r"<link\b[^>]*\bhref=[\"']" + re.escape(url) + r"[\"'][^>]*/?>")


def _strip_cdn_links(document: str, fmap, keep: tuple[str, ...]) -> str:
    """folium's CDN tags removed; those named in ``keep`` become ``<!--onemap:NAME-->`` placeholders."""
    for kind, links in (("js", type(fmap).default_js), ("css", type(fmap).default_css)):
        for name, url in links:
            pattern = _tag_of(kind, url)
            if name in keep and not pattern.search(document):
                raise NotOfflineSafe(f"folium's template changed: no <{kind}> tag for {name} ({url}) to inline")
            placeholder = f"<!--onemap:{name}-->" if name in keep else ""
            document = pattern.sub(lambda _m, r=placeholder: r, document, count=1)
    return document


_URL = re.compile(r"\b(?:https?|ftp|wss?)://[^\s\"'<>`)]+", re.IGNORECASE)


def _check_page(document: str) -> None:
    """The page around Leaflet may name no remote address at all, nor use a dropped library."""
    if "L.AwesomeMarkers" in document:
        raise NotOfflineSafe("folium.Icon needs leaflet.awesome-markers from a CDN; draw a CircleMarker instead")
    m = _URL.search(document)
    if m:
        raise NotOfflineSafe(f"the map names {m.group(0)!r}; an offline page loads nothing from the network")
    remote = external_references(document)
    if remote:
        raise NotOfflineSafe(f"the map references the network: {', '.join(remote[:5])}")


def _tile_layers(element) -> list[tuple[Any, str, Any]]:
    """(parent, name, layer) of every tile layer (WMS included) in the element tree."""
    from folium.raster_layers import TileLayer, WmsTileLayer

    found = []
    for name, child in element._children.items():
        if isinstance(child, (TileLayer, WmsTileLayer)):
            found.append((element, name, child))
        else:
            found += _tile_layers(child)
    return found


@contextmanager
def _without_tiles(fmap, title: str | None) -> Iterator[Any]:
    """The map's figure with tile layers detached and ``title`` set, both restored afterwards."""
    tiles = _tile_layers(fmap)
    figure = fmap.get_root()
    saved = [(parent, list(parent._children.items())) for parent in {id(p): p for p, _, _ in tiles}.values()]
    old_title = getattr(figure, "title", None)
    try:
        for parent, name, _ in tiles:
            del parent._children[name]
        if title is not None:
            figure.title = html.escape(title)
        yield figure
    finally:
        for parent, items in saved:
            parent._children = type(parent._children)(items)
        figure.title = old_title


def to_offline_html(fmap, *, title: str | None = None, lang: str = "zh-CN", head: str = "",
                    before_map: str = "", after_map: str = "", background: str = DEFAULT_BACKGROUND) -> str:
    """One HTML document, Leaflet inlined, that opens with no network.

    Parameters
    ----------
    fmap : folium.Map
        Its tile layers are left out (and put back afterwards).
    title : str, optional
        The document title (escaped here).
    lang : str
        BCP 47 language of the page ("zh-CN", "en").
    head, before_map, after_map : str
        Trusted HTML (the caller escapes its data) put at the end of ``<head>``,
        at the start of ``<body>`` and at its end.
    background : str
        CSS colour under the features (there are no tiles).

    Raises
    ------
    OfflineAssetMissing
        Leaflet is not installed (the message names the missing files).
    NotOfflineSafe
        Something on the map would still need the network.
    """
    assets = leaflet_assets()
    if not re.fullmatch(r"#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20}", background):
        raise NotOfflineSafe(f"background must be a CSS colour such as {DEFAULT_BACKGROUND}, got {background!r}")
    inline = _inline_leaflet(assets, background)
    with _without_tiles(fmap, title) as figure:
        document = _strip_cdn_links(figure.render(), fmap, keep=tuple(inline))
    document = document.replace("<html>", f'<html lang="{html.escape(lang)}">', 1)
    document = document.replace("</head>", f"{head}\n</head>", 1)
    document = document.replace("<body>", f"<body>\n{before_map}", 1)
    document = document.replace("</body>", f"{after_map}\n</body>", 1)
    _check_page(document)
    for name, text in inline.items():
        document = document.replace(f"<!--onemap:{name}-->", text, 1)
    remote = external_references(document)
    if remote:  # the inlined library itself (a different Leaflet build)
        raise NotOfflineSafe(f"the page still references the network: {', '.join(remote[:5])}")
    return document
