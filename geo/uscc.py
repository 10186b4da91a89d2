"""Unified social credit code (统一社会信用代码), GB 32100-2015.

18 characters from the 31-character set ``0-9 A-H J-N P Q R T U W X Y``
(no I, O, S, V, Z): registration authority (1), entity type (1), the 6-digit
administrative division code of the registering authority, the 9-character
organisation code (GB 11714, with its own check character), and a check
character. Check: with weights ``Wi = 3**i mod 31`` for positions 1–17 and
character values ``Ci`` (their index in the set),
``C18 = 31 − (Σ Ci·Wi mod 31)``, where 31 becomes 0.

The same rule is enforced by the database (``onemap_uscc_valid``) so no write
path can skip it.
"""

from __future__ import annotations

import re

from geo.errors import InvalidUSCC

__all__ = ["USCC_CHARS", "uscc_check_char", "validate_uscc", "is_valid_uscc", "org_code_check_char"]

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_WEIGHTS = [pow(3, i, 31) for i in range(17)]  # 1, 3, 9, 27, 19, 26, 16, …, 28
_VALUE = {c: i for i, c in enumerate(USCC_CHARS)}
_SHAPE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$")


def uscc_check_char(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters.

    >>> uscc_check_char("91440300192203821")
    '6'
    """
    total = sum(_VALUE[c] * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


def org_code_check_char(first8: str) -> str:
    """The GB 11714-1997 check character of an 8-digit organisation code body.

    Weights 3, 7, 9, 10, 5, 8, 4, 2; ``C9 = 11 − (Σ mod 11)``; 10 → ``X``, 11 → ``0``.

    >>> org_code_check_char("19220382")
    '1'
    """
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    values = [int(c) if c.isdigit() else ord(c) - 55 for c in first8]
    c9 = 11 - sum(v * w for v, w in zip(values, weights, strict=True)) % 11
    return {10: "X", 11: "0"}.get(c9, str(c9))


def validate_uscc(code: object, *, field: str = "uscc") -> str:
    """Return the normalised (upper-case, stripped) code or raise :class:`InvalidUSCC`.

    >>> validate_uscc("914403001922038216")
    '914403001922038216'
    >>> validate_uscc("914403001922038217")
    Traceback (most recent call last):
    ...
    geo.errors.InvalidUSCC: uscc: check character is '7' but GB 32100-2015 requires '6'
    """
    if not isinstance(code, str):
        raise InvalidUSCC(field, f"must be a string of 18 characters, got {type(code).__name__}")
    norm = code.strip().upper()
    if len(norm) != 18:
        raise InvalidUSCC(field, f"must be 18 characters, got {len(norm)}")
    bad = sorted({c for c in norm if c not in _VALUE})
    if bad:
        raise InvalidUSCC(
            field, f"contains characters outside GB 32100-2015's set (no I, O, S, V, Z): {''.join(bad)}"
        )
    if not _SHAPE.match(norm):
        raise InvalidUSCC(field, "characters 3-8 must be the 6-digit administrative division code")
    expected = uscc_check_char(norm[:17])
    if norm[17] != expected:
        raise InvalidUSCC(
            field, f"check character is {norm[17]!r} but GB 32100-2015 requires {expected!r}"
        )
    return norm


def is_valid_uscc(code: object) -> bool:
    """True when :func:`validate_uscc` accepts ``code``."""
    try:
        validate_uscc(code)
    except InvalidUSCC:
        return False
    return True
