"""Map label glyphs, made here from a local font: no online font service.

MapLibre draws labels from signed-distance-field (SDF) glyph sheets fetched
by the style's ``glyphs`` URL, one protobuf per font stack and 256-code-point
range (``/fonts/{stack}/{start}-{end}.pbf``). Government intranets have no
font server, and the usual generator (fontnik) downloads a binary at install,
so the sheets are rendered on demand from a font already on the machine
(Debian ``fonts-wqy-microhei``, which has Latin and CJK) with Pillow and an
exact Euclidean distance transform, then cached in memory.

Format (MapLibre's ``glyphs.proto``): ``glyphs { repeated fontstack stacks = 1 }``,
``fontstack { name = 1; range = 2; repeated glyph glyphs = 3 }``,
``glyph { id = 1; bitmap = 2; width = 3; height = 4; left = 5 (sint32);
top = 6 (sint32); advance = 7 }``. Bitmaps are 24 px em, with a 3 px
buffer on each side, one byte per pixel: ``255 - 255 * (d / 8 + 0.25)``
for a signed distance ``d`` in pixels (positive outside the outline), the
encoding of MapLibre's own TinySDF, so the edge sits at 191.
"""

from __future__ import annotations

import logging
import os
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.ndimage import distance_transform_edt

from geo.errors import InvalidInput

__all__ = ["glyph_range_pbf", "font_path", "FONT_SIZE_PX", "BUFFER_PX", "FONT_STACK"]

log = logging.getLogger(__name__)

FONT_SIZE_PX = 24  # MapLibre's ONE_EM
BUFFER_PX = 3
RADIUS_PX = 8.0
CUTOFF = 0.25
FONT_STACK = "OneMap Sans"
"""The font stack name the styles use; every stack name is served from the same local font."""

_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)
_RANGE = re.compile(r"^(\d{1,5})-(\d{1,5})$")
_STACK = re.compile(r"^[\w ,.\-]{1,200}$")


def font_path() -> Path | None:
    """The font glyphs are drawn from: ``ONEMAP_MAP_FONT``, else the first Debian font found."""
    override = os.environ.get("ONEMAP_MAP_FONT")
    if override:
        return Path(override) if Path(override).is_file() else None
    return next((Path(p) for p in _CANDIDATES if Path(p).is_file()), None)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _uint(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value)


def _sint(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint((value << 1) ^ (value >> 63))  # zigzag


def _bytes(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def sdf(alpha: np.ndarray) -> np.ndarray:
    """SDF bytes of an anti-aliased coverage bitmap (0–255), padded by ``BUFFER_PX``.

    >>> a = np.zeros((4, 4), np.uint8); a[1:3, 1:3] = 255
    >>> s = sdf(a); s.shape, int(s[4, 4]) > 191, int(s[0, 0]) < 191
    ((10, 10), True, True)
    """
    padded = np.pad(alpha, BUFFER_PX).astype(np.float64) / 255.0
    inside = padded >= 0.5
    if not inside.any():
        return np.zeros(padded.shape, np.uint8)
    # distances between pixel centres, shifted by half a pixel to the outline
    outside_d = distance_transform_edt(~inside) - 0.5
    inside_d = distance_transform_edt(inside) - 0.5
    signed_px = np.where(inside, -inside_d, outside_d)
    return np.clip(255.0 - 255.0 * (signed_px / RADIUS_PX + CUTOFF), 0, 255).round().astype(np.uint8)


@lru_cache(maxsize=4)
def _font(path: str):
    from PIL import ImageFont

    return ImageFont.truetype(path, FONT_SIZE_PX, layout_engine=ImageFont.Layout.BASIC)  # one glyph, no shaping


def _glyph(font, code: int) -> bytes | None:
    ch = chr(code)
    advance = round(font.getlength(ch))
    mask, (off_x, off_y) = font.getmask2(ch, mode="L", anchor="ls")
    width, height = mask.size
    msg = _uint(1, code)
    if width and height:
        alpha = np.asarray(mask, dtype=np.uint8).reshape(height, width)
        msg += _bytes(2, sdf(alpha).tobytes())
    else:
        width = height = 0
    # left: bearing x; top: bearing y above the baseline (the anchor is the baseline)
    return msg + _uint(3, width) + _uint(4, height) + _sint(5, off_x) + _sint(6, -off_y) + _uint(7, advance)


@lru_cache(maxsize=512)
def _range_pbf(path: str | None, stack: str, start: int, end: int) -> bytes:
    glyphs = b""
    if path is not None:
        font = _font(path)
        for code in range(start, end + 1):
            if code < 32 or 0xD800 <= code <= 0xDFFF:  # controls and surrogates draw nothing
                continue
            try:
                glyphs += _bytes(3, _glyph(font, code))
            except (OSError, ValueError, RuntimeError):  # a code point the font cannot draw: left out
                continue
    stack_msg = _bytes(1, stack.encode()) + _bytes(2, f"{start}-{end}".encode()) + glyphs
    return _bytes(1, stack_msg)


def glyph_range_pbf(stack: str, code_range: str) -> bytes:
    """The glyph sheet of ``stack`` for ``code_range`` (``"0-255"``, 256-aligned).

    With no font on the machine the sheet is valid and empty (labels are not
    drawn, nothing fails); a warning is logged once per range.
    """
    if not _STACK.match(stack):
        raise InvalidInput("fontstack", "letters, digits, spaces, commas, dots and dashes only")
    match = _RANGE.match(code_range)
    if not match:
        raise InvalidInput("range", "must look like 0-255")
    start, end = int(match[1]), int(match[2])
    if start % 256 or end != start + 255 or end > 0xFFFF:
        raise InvalidInput("range", "must be a 256-aligned range of the Basic Multilingual Plane, e.g. 19968-20223")
    path = font_path()
    if path is None:
        log.warning("glyphs: no font found (install fonts-wqy-microhei or set ONEMAP_MAP_FONT); %s empty",
                    code_range)
    return _range_pbf(None if path is None else str(path), stack.split(",")[0].strip(), start, end)
