"""The hidden-danger closed loop over HTTP (隐患排查治理): moves, history, evidence, statistics.

Thin: each route parses input, calls one service function of
:mod:`workflows` and serialises; the session's transaction is committed here.
``POST /hidden-dangers`` (create, in ``reported``) and the item/list routes
are the catalogue resource (:mod:`api.routes.features`). See docs/WORKFLOWS.md.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Body, File, Form, Header, Path, Query, UploadFile
from fastapi.responses import JSONResponse, Response

from api.deps import ContextDep, SessionDep
from api.etags import etag_version
from layers.catalogue import LAYERS
from layers.features import get_feature
from workflows.danger_stats import danger_stats
from workflows.evidence import (
    MAX_EVIDENCE_BYTES,
    MEDIA_TYPES,
    add_evidence,
    evidence_file,
    list_evidence,
)
from workflows.hidden_dangers import TransitionRequest, history, next_moves, transition

__all__ = ["router"]

router = APIRouter(tags=["hidden-danger workflow"])
DangerId = Annotated[int, Path(ge=1, lt=2**63, description="hidden danger id")]
_LAYER = LAYERS["hidden_dangers"]


def _json(data: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str), status_code=status,
                    media_type="application/json", headers=headers)


@router.post("/hidden-dangers/{danger_id}/transitions", status_code=201, name="hidden_danger_transition",
             summary="Move a hidden danger through the loop (accepted, rectifying, submitted, rejected, verified, "
                     "closed)",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": TransitionRequest.model_json_schema()}}}},
             responses={403: {"description": "your role may not make this move"},
                        404: {"description": "no such danger in your jurisdiction"},
                        409: {"description": "not allowed from the current status (lists the allowed moves), "
                                             "or a stale If-Match"},
                        422: {"description": "a field is missing or wrong (named)"}})
def move(session: SessionDep, ctx: ContextDep, danger_id: DangerId, payload: Annotated[Any, Body()],
         if_match: Annotated[str | None, Header(description='optional: the ETag you read, e.g. "3"')] = None
         ) -> Response:
    """``{"to": ..., "note": ..., ...}`` → 201 ``{"transition": {...}, "hidden_danger": {...}}``."""
    version = None if if_match is None else etag_version(if_match)
    record = transition(session, danger_id=danger_id, payload=payload, ctx=ctx, if_match=version)
    body, version = get_feature(session, layer=_LAYER, feature_id=danger_id, geojson=False)
    session.commit()
    text = '{"transition":' + json.dumps(record, ensure_ascii=False, default=str) + ',"hidden_danger":' + body + "}"
    return Response(text, status_code=201, media_type="application/json",
                    headers={"ETag": f'"{version}"', "Location": f"/hidden-dangers/{danger_id}/history"})


@router.get("/hidden-dangers/{danger_id}/transitions", name="hidden_danger_next_moves",
            summary="The moves that can follow the current status, and whether your role may make them")
def moves(session: SessionDep, ctx: ContextDep, danger_id: DangerId) -> dict[str, Any]:
    return next_moves(session, danger_id=danger_id, ctx=ctx)


@router.get("/hidden-dangers/{danger_id}/history", name="hidden_danger_history",
            summary="Every move of a hidden danger, oldest first, with actors, notes and evidence")
def danger_history(session: SessionDep, ctx: ContextDep, danger_id: DangerId) -> Response:
    return _json(history(session, danger_id=danger_id, ctx=ctx))


@router.post("/hidden-dangers/{danger_id}/evidence", status_code=201, name="hidden_danger_add_evidence",
             summary=f"Upload one evidence file (PNG, JPEG, WebP, PDF or UTF-8 text; at most "
                     f"{MAX_EVIDENCE_BYTES // 2**20} MiB)",
             responses={413: {"description": "file over the limit (field file), or body over 5 MiB (field body)"},
                        415: {"description": "content not an accepted type, or not the declared one"},
                        409: {"description": "the danger is verified or closed"}})
def upload(session: SessionDep, ctx: ContextDep, danger_id: DangerId,
           file: Annotated[UploadFile, File(description=", ".join(MEDIA_TYPES))],
           note: Annotated[str | None, Form(max_length=4000)] = None) -> Response:
    """multipart/form-data ``file`` (+ ``note``) → 201 with the file's metadata (sha256, size, type)."""
    data = file.file.read(MAX_EVIDENCE_BYTES + 1)
    meta = add_evidence(session, danger_id=danger_id, ctx=ctx, data=data, filename=file.filename,
                        declared_type=file.content_type, note=note)
    session.commit()
    return _json(meta, 201, {"Location": meta["href"]})


@router.get("/hidden-dangers/{danger_id}/evidence", name="hidden_danger_evidence",
            summary="Metadata of the evidence files of a hidden danger")
def evidence_list(session: SessionDep, ctx: ContextDep, danger_id: DangerId) -> Response:
    rows = list_evidence(session, danger_id=danger_id, ctx=ctx)
    return _json({"data": rows, "count": len(rows)})


@router.get("/hidden-dangers/{danger_id}/evidence/{evidence_id}", name="hidden_danger_evidence_file",
            summary="One evidence file, with its media type",
            responses={200: {"content": {t: {} for t in MEDIA_TYPES}}})
def evidence_download(session: SessionDep, ctx: ContextDep, danger_id: DangerId,
                      evidence_id: Annotated[int, Path(ge=1, lt=2**63)]) -> Response:
    f = evidence_file(session, danger_id=danger_id, evidence_id=evidence_id, ctx=ctx)
    disposition = "inline" if f.media_type.startswith("image/") else "attachment"
    media_type = f.media_type + ("; charset=utf-8" if f.media_type == "text/plain" else "")
    return Response(f.content, media_type=media_type, headers={
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(f.filename, safe='')}",
        "ETag": f'"{f.sha256}"', "Cache-Control": "private, max-age=86400, immutable",
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"})


@router.get("/stats/hidden-dangers", name="hidden_danger_stats",
            summary="Hidden dangers by region and period: found, rectified, overdue, rate, repeats")
def stats(session: SessionDep, ctx: ContextDep,
          adcode: Annotated[str | None, Query(description="region at any level (default: your jurisdiction)")]
          = None,
          level: Annotated[Literal["county", "city", "province"], Query(description="regions to group by")]
          = "county",
          date_from: Annotated[dt.date | None, Query(alias="from", description="found on or after (YYYY-MM-DD)")]
          = None,
          date_to: Annotated[dt.date | None, Query(alias="to", description="found on or before (YYYY-MM-DD)")]
          = None,
          as_of: Annotated[dt.date | None, Query(description="the day overdue is judged by (default today)")]
          = None) -> JSONResponse:
    return JSONResponse(danger_stats(session, ctx=ctx, adcode=adcode, level=level, date_from=date_from,
                                     date_to=date_to, as_of=as_of))
