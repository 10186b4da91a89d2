"""Plume benchmarks: prints ONE JSON object (medians of several runs, ratios in the same run).

Run:  .venv/bin/python benchmarks/plume_bench.py   (about 20 s on 2 cores)

Measured
--------
1. ``plume.gaussian.plume_concentration`` on 1,000,000 receptors (1000 x 1000 grid
   rotated into a 30° wind), with its ratio to a bare ``a*b+c`` over the same arrays
   (numexpr and numpy) timed in the same run. Goal: median <= 12 ms.
2. ``plume.run`` for chlorine 1 kg/s, 10 min, urban D, 3 m/s. Goal: < 150 ms.
3. ``plume.ensemble``: 36 directions x 6 classes, 500 x 500 grid (nearest-axis method),
   with the brute-force method (one pass per member) timed once as the peer.
   Goal: < 3 s.
4. A straightforward per-receptor Python loop (``math`` functions) on a 20,000-receptor
   subsample, scaled to 1,000,000, against (1).
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numexpr as ne  # noqa: E402
import numpy as np  # noqa: E402

import plume  # noqa: E402
from plume.gaussian import plume_concentration  # noqa: E402
from plume.sigmas import briggs  # noqa: E402


def median_ms(fn, repeat: int) -> float:
    fn()  # warm-up (numexpr compiles, caches fill)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def loop_plume(q, u, xs, ys, h, cls):
    """Straightforward per-receptor Python: what the vectorised code replaces."""
    a_y, b_y, _ = plume.sigmas.BRIGGS_COEFFICIENTS["rural"][cls][0]
    a_z, b_z, _ = plume.sigmas.BRIGGS_COEFFICIENTS["rural"][cls][1]
    out = []
    for x, y in zip(xs, ys, strict=True):
        if x <= 0:
            out.append(0.0)
            continue
        sy = a_y * x / math.sqrt(1 + b_y * x)
        sz = a_z * x / math.sqrt(1 + b_z * x)
        out.append(q / (2 * math.pi * u * sy * sz) * math.exp(-y * y / (2 * sy * sy))
                   * (math.exp(-h * h / (2 * sz * sz)) * 2))
    return out


def main() -> None:
    rng_repeat = 15
    # 1. one million receptors, rotated
    n = 1000
    e = np.linspace(-5000, 5000, n)
    e, nn = np.meshgrid(e, e)
    de, dn = plume.grid.wind_axes(30.0)
    x = e * de + nn * dn
    y = nn * de - e * dn
    sy, sz = briggs(x, "D")
    q, u, h = 1000.0, 3.0, 10.0

    def kernel():
        return plume_concentration(q, u, x, y, 0.0, h, sy, sz)

    t_plume = median_ms(kernel, rng_repeat)
    t_ne_axpb = median_ms(lambda: ne.evaluate("a*b+c", local_dict={"a": x, "b": y, "c": sy}),
                          rng_repeat)
    t_np_axpb = median_ms(lambda: x * y + sy, rng_repeat)

    # 4. per-receptor loop on a subsample, scaled
    sub = 20_000
    xs = x.ravel()[:: x.size // sub][:sub].tolist()
    ys = y.ravel()[:: y.size // sub][:sub].tolist()
    t0 = time.perf_counter()
    ref = loop_plume(q, u, xs, ys, h, "D")
    t_loop_sub = (time.perf_counter() - t0) * 1e3
    t_loop_scaled = t_loop_sub * (x.size / sub)
    # sanity: the loop and the vectorised kernel agree on the subsample
    vec = plume_concentration(q, u, np.array(xs), np.array(ys), 0.0, h,
                              *briggs(np.array(xs), "D"))
    agree = bool(np.allclose(vec, ref, rtol=1e-10, atol=1e-200))  # exp underflow near 0

    # 2. full run
    scenario = plume.Scenario(source_lon=121.70, source_lat=29.97, chemical="chlorine",
                              release={"kind": "continuous", "rate_g_s": 1000,
                                       "duration_s": 600},
                              weather={"wind_speed_m_s": 3, "wind_from_deg": 45,
                                       "stability": "D", "terrain": "urban"})
    t_run = median_ms(lambda: plume.run(scenario), 9)
    res = plume.run(scenario)

    # 3. ensemble 36 x 6 on 500 x 500
    ens_kwargs = dict(stabilities=list("ABCDEF"), extent_m=12_500.0, cell_m=50.0)
    t_ens = median_ms(lambda: plume.ensemble(scenario, **ens_kwargs), 5)
    ens = plume.ensemble(scenario, **ens_kwargs)
    t0 = time.perf_counter()
    brute = plume.ensemble(scenario, method="brute", **ens_kwargs)
    t_brute = (time.perf_counter() - t0) * 1e3
    same = bool(np.allclose(ens.concentration_ppm, brute.concentration_ppm, rtol=1e-9,
                            atol=1e-12))

    out = {
        "benchmark": "plume",
        "command": ".venv/bin/python benchmarks/plume_bench.py",
        "machine": {"cpus": os.cpu_count(), "numexpr_threads": ne.get_num_threads(),
                    "python": platform.python_version(), "numpy": np.__version__,
                    "numexpr": ne.__version__, "platform": platform.platform()},
        "plume_concentration_1M": {
            "receptors": int(x.size), "grid": [n, n], "rotation_deg": 30.0,
            "repeats": rng_repeat, "median_ms": round(t_plume, 2),
            "numexpr_a_times_b_plus_c_median_ms": round(t_ne_axpb, 2),
            "numpy_a_times_b_plus_c_median_ms": round(t_np_axpb, 2),
            "ratio_to_numexpr_axpb": round(t_plume / t_ne_axpb, 2),
            "ratio_to_numpy_axpb": round(t_plume / t_np_axpb, 2),
            "goal_ms": 12.0, "meets_goal": t_plume <= 12.0,
        },
        "python_loop_peer": {
            "subsample": sub, "subsample_ms": round(t_loop_sub, 1),
            "scaled_to_1M_ms": round(t_loop_scaled, 1),
            "speedup_vectorised_vs_loop": round(t_loop_scaled / t_plume, 1),
            "results_agree": agree,
        },
        "run_chlorine_1kg_s": {
            "scenario": "chlorine 1000 g/s for 600 s, urban D, 3 m/s from 45 deg",
            "grid": list(res.grid.shape), "cell_m": res.cell_m, "repeats": 9,
            "median_ms": round(t_run, 1), "goal_ms": 150.0, "meets_goal": t_run < 150.0,
            "zones_max_downwind_m": {z.name: round(z.max_downwind_m) for z in res.zones},
        },
        "ensemble_36dir_x_6class": {
            "grid": list(ens.grid.shape), "members": len(ens.members), "repeats": 5,
            "median_ms": round(t_ens, 1), "goal_ms": 3000.0, "meets_goal": t_ens < 3000.0,
            "brute_force_peer_ms": round(t_brute, 1),
            "speedup_vs_brute_force": round(t_brute / t_ens, 1),
            "same_result_as_brute_force": same,
        },
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
