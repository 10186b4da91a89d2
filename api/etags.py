"""Entity tags: row versions in ``ETag``/``If-Match``, and ``If-None-Match`` revalidation."""

from __future__ import annotations

import re

from geo.errors import InvalidInput
from layers.editing import VersionRequired

__all__ = ["etag_version", "etag_matches"]

_ETAG = re.compile(r'^(?:W/)?"v?(\d{1,18})"$')


def etag_version(value: str | None) -> int:
    """The row version in a required ``If-Match`` header (``"3"``)."""
    if value is None or value == "":
        raise VersionRequired("If-Match", 'required: send the ETag of the version you edited, e.g. If-Match: "3"')
    m = _ETAG.match(value.strip())
    if not m:
        raise InvalidInput("If-Match", 'must be an ETag as sent by GET, e.g. "3"')
    return int(m.group(1))


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak comparison)."""
    return bool(if_none_match) and etag in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
