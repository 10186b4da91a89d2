"""Evidence files of hidden dangers (整改佐证材料): photos, PDFs and text, stored in the database.

A file is accepted when its *content* is one of :data:`MEDIA_TYPES`, judged
by its first bytes (magic numbers; images are also opened with Pillow and
verified; text must be UTF-8 without NUL bytes), never by the declared type
or the file name; a declared type that disagrees with the content is refused
too. At most :data:`MAX_EVIDENCE_BYTES` (4 MiB) per file: the API refuses
request bodies over 5 MiB (``api.app.MAX_BODY_BYTES``), so a file at the cap
still fits with its multipart framing and the refusal names ``file``; the
database repeats the cap, the magic bytes and computes ``size_bytes`` and
``sha256`` itself (migration 0009).

A file is attached to the danger at once and taken by the danger's *next*
move (``transition_id``): the plan document by ``rectifying``, completion
photos by ``submitted`` (which needs at least one), inspection photos by
``verified`` or ``rejected``. Files are added while a danger is reported,
accepted, rectifying or submitted; nothing is ever replaced or deleted.
The caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import warnings
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from geo.context import RequestContext, require_signed_in
from geo.errors import InvalidInput, NotFound
from geo.models import HiddenDanger, HiddenDangerEvidence
from geo.registry import db_errors
from workflows.errors import EvidenceTooLarge, UnsupportedMediaType, WorkflowConflict
from workflows.hidden_dangers import _conn

__all__ = ["MAX_EVIDENCE_BYTES", "MEDIA_TYPES", "EVIDENCE_STATUSES", "EvidenceFile", "sniff_media_type",
           "check_content", "clean_filename", "add_evidence", "list_evidence", "evidence_file"]

MAX_EVIDENCE_BYTES = 4 * 2**20
MEDIA_TYPES = {  # media type -> (label, extension)
    "image/png": ("PNG image", ".png"),
    "image/jpeg": ("JPEG image", ".jpg"),
    "image/webp": ("WebP image", ".webp"),
    "application/pdf": ("PDF document", ".pdf"),
    "text/plain": ("UTF-8 text", ".txt"),
}
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "application/x-pdf": "application/pdf"}
_UNDECLARED = ("", "application/octet-stream")
EVIDENCE_STATUSES = ("reported", "accepted", "rectifying", "submitted")
_PILLOW_FORMAT = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def sniff_media_type(data: bytes) -> str | None:
    r"""The media type of ``data`` by its first bytes, or None when it is none of :data:`MEDIA_TYPES`.

    >>> sniff_media_type(b"\x89PNG\r\n\x1a\n" + bytes(8)), sniff_media_type(b"%PDF-1.7\n")
    ('image/png', 'application/pdf')
    >>> sniff_media_type("整改完成，已更换阀门".encode()), sniff_media_type(b"MZ\x90\x00"), sniff_media_type(b"")
    ('text/plain', None, None)
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if not data or b"\x00" in data:
        return None
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if _TEXT_CONTROL.search(decoded) else "text/plain"


def _declared(value: str | None) -> str:
    base = (value or "").split(";")[0].strip().lower()
    return _ALIASES.get(base, base)


def check_content(data: bytes, *, declared: str | None = None, field: str = "file") -> str:
    """The media type to store for ``data``; refuses what OneMap does not keep.

    :class:`EvidenceTooLarge` over the cap, :class:`InvalidInput` when empty,
    :class:`UnsupportedMediaType` when the content is none of the accepted
    types, an image does not open, or ``declared`` (the client's type; empty
    and ``application/octet-stream`` mean "not said") disagrees with the content.
    """
    if len(data) > MAX_EVIDENCE_BYTES:
        raise EvidenceTooLarge(field, f"{len(data):,} bytes is over the {MAX_EVIDENCE_BYTES // 2**20} MiB "
                                      "limit per evidence file")
    if not data:
        raise InvalidInput(field, "is empty")
    kinds = ", ".join(label for label, _ in MEDIA_TYPES.values())
    sniffed = sniff_media_type(data)
    if sniffed is None:
        raise UnsupportedMediaType(field, f"the content is none of: {kinds} (judged by its first bytes, "
                                          "not by the declared type or the file name)")
    said = _declared(declared)
    if said not in _UNDECLARED and said != sniffed:
        if said not in MEDIA_TYPES:
            raise UnsupportedMediaType(field, f"type {said!r} is not accepted; accepted: {', '.join(MEDIA_TYPES)}")
        raise UnsupportedMediaType(field, f"declared as {said} but the content is a {MEDIA_TYPES[sniffed][0]}")
    if sniffed in _PILLOW_FORMAT:
        _verify_image(data, sniffed, field)
    return sniffed


def _verify_image(data: bytes, media_type: str, field: str) -> None:
    from PIL import Image

    label = MEDIA_TYPES[media_type][0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[_PILLOW_FORMAT[media_type]]) as image:
                image.verify()
    except Exception as exc:  # noqa: BLE001 - any decoder complaint means "not a usable image"
        raise UnsupportedMediaType(field, f"is not a readable {label} ({exc.__class__.__name__})") from None


def clean_filename(name: str | None, media_type: str) -> str:
    """A safe display name: the last path part, no control characters, at most 200 characters.

    >>> clean_filename("C:\\\\fakepath\\\\现场照片.png", "image/png"), clean_filename("  ", "application/pdf")
    ('现场照片.png', 'evidence.pdf')
    """
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip().strip(".")
    if not base:
        base = "evidence" + MEDIA_TYPES[media_type][1]
    if len(base) > 200:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: 199 - len(ext)] + dot + ext) if dot and len(ext) <= 10 else base[:200]
    return base


_D = HiddenDanger.__table__
_E = HiddenDangerEvidence.__table__
_META = (_E.c.id, _E.c.hidden_danger_id, _E.c.transition_id, _E.c.filename, _E.c.media_type, _E.c.size_bytes,
         _E.c.sha256, _E.c.uploaded_by, _E.c.uploaded_at, _E.c.note)


def _meta(row) -> dict[str, Any]:
    return {"id": row.id, "hidden_danger_id": row.hidden_danger_id, "transition_id": row.transition_id,
            "filename": row.filename, "media_type": row.media_type, "size_bytes": row.size_bytes,
            "sha256": row.sha256.hex(), "uploaded_by": row.uploaded_by, "uploaded_at": row.uploaded_at.isoformat(),
            "note": row.note, "href": f"/hidden-dangers/{row.hidden_danger_id}/evidence/{row.id}"}


def add_evidence(session: Session | Connection, *, danger_id: int, ctx: RequestContext, data: bytes,
                 filename: str | None = None, declared_type: str | None = None,
                 note: str | None = None) -> dict[str, Any]:
    """Check and store one evidence file of danger ``danger_id``; its metadata.

    The content is checked before anything is read from the database, so a
    refused file costs nothing and leaves nothing. The danger is locked
    ``FOR SHARE`` (a move of the danger waits, and the other way round).
    """
    require_signed_in(ctx, "evidence")
    media_type = check_content(data, declared=declared_type)
    if note is not None:
        note = note.strip() or None
        if note is not None and len(note) > 4000:
            raise InvalidInput("note", "at most 4000 characters")
    conn = _conn(session)
    status = conn.execute(select(_D.c.status).where(_D.c.id == danger_id, _D.c.valid_to.is_(None))
                          .with_for_update(read=True)).scalar()
    if status is None:
        raise NotFound(f"hidden danger {danger_id} not found")
    if status not in EVIDENCE_STATUSES:
        raise WorkflowConflict("file", f"evidence is added while a danger is {', '.join(EVIDENCE_STATUSES)}; "
                                       f"this one is {status}", status=status, allowed=EVIDENCE_STATUSES)
    with db_errors(conn):
        row = conn.execute(insert(_E).values(
            hidden_danger_id=danger_id, filename=clean_filename(filename, media_type), media_type=media_type,
            content=data, size_bytes=len(data), sha256=hashlib.sha256(data).digest(), note=note,
        ).returning(*_META)).one()
    return _meta(row)


def list_evidence(session: Session | Connection, *, danger_id: int, ctx: RequestContext) -> list[dict[str, Any]]:
    """Metadata of every evidence file of a danger, oldest first (no content)."""
    require_signed_in(ctx, "evidence")
    conn = _conn(session)
    if conn.execute(select(_D.c.id).where(_D.c.id == danger_id)).scalar() is None:
        raise NotFound(f"hidden danger {danger_id} not found")
    return [_meta(r) for r in conn.execute(select(*_META).where(_E.c.hidden_danger_id == danger_id)
                                           .order_by(_E.c.id))]


@dataclass(frozen=True)
class EvidenceFile:
    """One stored file: what to send back."""

    filename: str
    media_type: str
    content: bytes
    sha256: str


def evidence_file(session: Session | Connection, *, danger_id: int, evidence_id: int,
                  ctx: RequestContext) -> EvidenceFile:
    """The file ``evidence_id`` of danger ``danger_id`` (NotFound when either is not visible)."""
    require_signed_in(ctx, "evidence")
    row = _conn(session).execute(select(_E.c.filename, _E.c.media_type, _E.c.content, _E.c.sha256)
                                 .where(_E.c.id == evidence_id, _E.c.hidden_danger_id == danger_id)).first()
    if row is None:
        raise NotFound(f"evidence {evidence_id} of hidden danger {danger_id} not found")
    return EvidenceFile(row.filename, row.media_type, bytes(row.content), row.sha256.hex())
