"""The browser pages and what they load: all from this server, nothing from the internet.

* ``/`` the risk-distribution map, ``/wall`` the command-centre wall display,
  ``/planner`` the scenario planner: HTML from ``webmap/src``;
* ``/static/...`` their scripts and styles, ``/static/vendor/...`` MapLibre GL
  JS and Leaflet as installed from npm by the set-up (``webmap/dist/vendor``);
* ``/map/style.json`` the MapLibre style (basemap from our regions plus the
  catalogue layers, light or dark), ``/map/region-labels`` label points,
  ``/fonts/{stack}/{range}.pbf`` label glyphs rendered from the local font.

The folder is ``webmap/`` beside the packages, or ``ONEMAP_WEBMAP_DIR``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from api.deps import SessionDep
from layers.basemap import THEMATIC, map_style, region_labels
from layers.features import InvalidQuery
from layers.glyphs import glyph_range_pbf
from layers.offline_html import webmap_dir

__all__ = ["router", "mount_static", "webmap_dir"]

router = APIRouter(tags=["pages"])

_PAGES = {"/": "index.html", "/wall": "wall.html", "/planner": "planner.html"}
_NO_CACHE = {"Cache-Control": "no-cache"}


def _page(name: str):
    def serve() -> FileResponse:
        return FileResponse(webmap_dir() / "src" / name, media_type="text/html", headers=_NO_CACHE)

    serve.__name__ = f"page_{name.split('.')[0]}"
    return serve


for _path, _file in _PAGES.items():
    router.add_api_route(_path, _page(_file), methods=["GET"], include_in_schema=False)


def _origin(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/map/style.json", summary="MapLibre style: offline basemap and catalogue layers")
def style(request: Request,
          theme: Annotated[Literal["light", "dark"], Query(description="light for desks, dark for walls")] = "light",
          layers: Annotated[str | None, Query(max_length=400,
                                              description="thematic layers shown at first, comma-separated")] = None,
          ) -> JSONResponse:
    """The style the pages load; tile, label and glyph URLs point back at this server."""
    visible = None
    if layers is not None:
        visible = frozenset(v.strip() for v in layers.split(",") if v.strip())
        unknown = visible - set(THEMATIC)
        if unknown:
            raise InvalidQuery("layers", f"unknown layers {sorted(unknown)}; allowed: {', '.join(THEMATIC)}")
    body = map_style(origin=_origin(request), theme=theme, today=date.today(), visible=visible)
    return JSONResponse(body, headers=_NO_CACHE)


@router.get("/map/region-labels", summary="Region label points (GeoJSON)")
def labels(session: SessionDep) -> JSONResponse:
    """A point inside every region with its name and level."""
    return JSONResponse(region_labels(session), media_type="application/geo+json",
                        headers={"Cache-Control": "public, max-age=300"})


@router.get("/fonts/{fontstack}/{code_range}.pbf", summary="Label glyphs (SDF protobuf) from the local font",
            response_class=Response, responses={200: {"content": {"application/x-protobuf": {}}}})
def glyphs(fontstack: Annotated[str, PathParam(max_length=200)],
           code_range: Annotated[str, PathParam(max_length=20)]) -> Response:
    """256 glyphs of the local font as MapLibre SDF glyphs (any stack name maps to the one font)."""
    return Response(glyph_range_pbf(fontstack, code_range), media_type="application/x-protobuf",
                    headers={"Cache-Control": "public, max-age=86400"})


def mount_static(app: FastAPI) -> None:
    """Serve ``webmap/dist/vendor`` at ``/static/vendor`` and ``webmap/src`` at ``/static``.

    The vendor folder is made by the set-up (``npm ci`` and ``webmap/build.mjs``);
    without it the pages cannot draw a map, so it is required here.
    """
    root = webmap_dir()
    vendor = root / "dist" / "vendor"
    app.mount("/static/vendor", StaticFiles(directory=vendor, check_dir=False), name="vendor")
    app.mount("/static", StaticFiles(directory=root / "src", check_dir=False), name="static")
