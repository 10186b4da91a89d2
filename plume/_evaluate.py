"""Evaluate expression text over arrays: numexpr (fused, multi-threaded), else numpy.

The one place where plume imports numexpr. The expressions use only
arithmetic, ``exp``, ``sqrt`` and ``where``, which numexpr and numpy both
understand, so the numpy fallback evaluates the same text.
"""

from __future__ import annotations

import math

import numpy as np

try:  # numexpr is a declared dependency; numpy is the fallback
    import numexpr as _ne
except ImportError:  # pragma: no cover
    _ne = None

__all__ = ["evaluate", "NUMEXPR_MIN_SIZE"]

#: Below this many elements numpy is quicker than starting numexpr's threads.
NUMEXPR_MIN_SIZE = 4096

_NUMPY_FUNCTIONS = {"__builtins__": {}, "exp": np.exp, "sqrt": np.sqrt, "where": np.where}


def evaluate(expr: str, names: dict, *, out: np.ndarray | None = None,
             min_size: int = NUMEXPR_MIN_SIZE) -> np.ndarray:
    """Value of ``expr`` with the arrays and scalars of ``names``, broadcast together.

    numexpr is used when it is installed and the result has at least
    ``min_size`` elements (``min_size=0``: always); otherwise numpy, with
    floating-point warnings silenced (NaN and inf propagate as they do in
    numexpr). ``out`` receives the result if given.

    Examples
    --------
    >>> evaluate("where(x > 0, sqrt(x), 0.0)", {"x": np.array([-4.0, 4.0])}).tolist()
    [0.0, 2.0]
    """
    shape = np.broadcast_shapes(*(np.shape(v) for v in names.values()))
    if _ne is not None and math.prod(shape) >= min_size:
        return _ne.evaluate(expr, local_dict=names, out=out)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        arrays = {k: np.asarray(v, dtype=float) for k, v in names.items()}
        res = np.asarray(eval(expr, _NUMPY_FUNCTIONS, arrays), dtype=float)  # noqa: S307
    if out is None:
        return res
    out[...] = res
    return out
