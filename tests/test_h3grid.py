"""H3 gateway (geo.h3grid): (lon, lat) order, round trips, metres; no database."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import shapely
from pyproj import Geod

from geo import h3grid
from geo.errors import InvalidGeometry, InvalidInput
from geo.h3grid import (
    cell_area_m2,
    cell_boundaries,
    cell_centres,
    cells_in_disk,
    cells_to_str,
    lonlat_to_cells,
    parents,
    polygon_to_cells,
    resolutions,
    str_to_cells,
)

GEOD = Geod(ellps="WGS84")
HANGZHOU = (120.15, 30.28)  # lon, lat
NINGBO = (121.55, 29.87)


def zhejiang_points(n: int = 200, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(118.0, 122.9, n), rng.uniform(27.0, 31.2, n)


def metres(lon0, lat0, lon, lat) -> np.ndarray:
    lon, lat = np.broadcast_arrays(np.asarray(lon, float), np.asarray(lat, float))
    return GEOD.inv(np.full(lon.shape, lon0), np.full(lon.shape, lat0), lon, lat)[2]


def test_doctests():
    result = doctest.testmod(h3grid, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


# --------------------------------------------------------------------------- the swap


@pytest.mark.parametrize("res", [5, 7, 9, 11])
def test_zhejiang_point_lands_in_a_cell_centred_within_one_edge(res):
    """(lon, lat) in: the cell's centre is within one edge (= circumradius) of the point."""
    lon, lat = HANGZHOU
    cell = lonlat_to_cells(lon, lat, res)
    c_lon, c_lat = cell_centres(cell)
    poly = cell_boundaries(cell)
    vertices = np.asarray(poly.exterior.coords)
    edge_m = metres(c_lon, c_lat, vertices[:, 0], vertices[:, 1]).max()
    assert metres(lon, lat, c_lon, c_lat) <= edge_m
    assert 118 < c_lon < 123 and 27 < c_lat < 31.5  # not swapped into the Arabian Sea
    assert poly.contains(shapely.Point(lon, lat))


def test_swapped_arguments_are_refused():
    with pytest.raises(InvalidInput, match="lon, lat in that order") as info:
        lonlat_to_cells(HANGZHOU[1], HANGZHOU[0], 9)
    assert info.value.field == "lat"


def test_boundaries_are_lon_lat():
    poly = cell_boundaries(lonlat_to_cells(*HANGZHOU, 8))
    min_x, min_y, max_x, max_y = poly.bounds
    assert 120 < min_x < max_x < 120.3
    assert 30.2 < min_y < max_y < 30.4


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("res", [0, 4, 8, 12, 15])
def test_centre_round_trip(res):
    """The centre of a cell lies in that cell."""
    lon, lat = zhejiang_points()
    cells = lonlat_to_cells(lon, lat, res)
    assert cells.dtype == np.uint64 and cells.shape == lon.shape
    c_lon, c_lat = cell_centres(cells)
    np.testing.assert_array_equal(lonlat_to_cells(c_lon, c_lat, res), cells)
    np.testing.assert_array_equal(resolutions(cells), res)


def test_shapes_are_kept():
    lon, lat = zhejiang_points(12)
    cells = lonlat_to_cells(lon.reshape(3, 4), lat.reshape(3, 4), 9)
    assert cells.shape == (3, 4)
    c_lon, c_lat = cell_centres(cells)
    assert c_lon.shape == c_lat.shape == (3, 4)
    assert cell_boundaries(cells).shape == (3, 4)
    assert cell_area_m2(cells).shape == (3, 4)
    assert parents(cells, 5).shape == (3, 4)
    assert cells_to_str(cells).shape == (3, 4)
    np.testing.assert_array_equal(str_to_cells(cells_to_str(cells)), cells)


def test_scalar_in_scalar_out():
    cell = lonlat_to_cells(*HANGZHOU, 9)
    assert isinstance(cell, np.uint64)
    assert isinstance(cells_to_str(cell), str)
    assert isinstance(cell_area_m2(cell), float)
    assert isinstance(cell_boundaries(cell), shapely.Polygon)


def test_broadcasting_one_latitude():
    cells = lonlat_to_cells([120.0, 120.5, 121.0], 30.0, 7)
    assert cells.shape == (3,)
    assert len(set(cells.tolist())) == 3


def test_string_round_trip():
    lon, lat = zhejiang_points(50)
    cells = lonlat_to_cells(lon, lat, 10)
    strings = cells_to_str(cells)
    assert all(len(s) == 15 and int(s, 16) == int(c) for s, c in zip(strings, cells, strict=True))
    np.testing.assert_array_equal(str_to_cells(strings), cells)
    np.testing.assert_array_equal(str_to_cells(list(strings)), cells)


@pytest.mark.parametrize(
    ("value", "field"),
    [(["8930e1ca5a3ffff", "xyz"], "cells[1]"), ("ffffffffffffffff", "cells"), ([None], "cells[0]")],
)
def test_bad_strings(value, field):
    with pytest.raises(InvalidInput) as info:
        str_to_cells(value)
    assert info.value.field == field


def test_int64_cells_are_accepted():
    """Valid cells never set bit 63: int64 (PostgreSQL bigint) is lossless."""
    cells = lonlat_to_cells(*zhejiang_points(20), 9)
    as_int64 = cells.astype(np.int64)
    assert (as_int64 > 0).all()
    np.testing.assert_array_equal(cell_centres(as_int64)[0], cell_centres(cells)[0])


@pytest.mark.parametrize(
    ("cells", "field"),
    [
        (np.array([-1], dtype=np.int64), "cells[0]"),
        (np.array([1.0, 2.0]), "cells"),
        (np.array([12345], dtype=np.uint64), "cells[0]"),
        (["89309a552b7ffff"], "cells"),
    ],
)
def test_bad_cells(cells, field):
    with pytest.raises(InvalidInput) as info:
        cell_centres(cells)
    assert info.value.field == field


# --------------------------------------------------------------------------- hierarchy, area


@pytest.mark.parametrize("res", [0, 3, 6, 8])
def test_parents(res):
    cells = lonlat_to_cells(*zhejiang_points(), 9)
    up = parents(cells, res)
    np.testing.assert_array_equal(resolutions(up), res)
    np.testing.assert_array_equal(parents(parents(cells, res + 1), res), up)
    # the parent is the cell of its own centre, and contains its children's centre cells
    np.testing.assert_array_equal(lonlat_to_cells(*cell_centres(up), res), up)


def test_parent_at_own_resolution_is_identity():
    cells = lonlat_to_cells(*zhejiang_points(10), 7)
    np.testing.assert_array_equal(parents(cells, 7), cells)


def test_parent_finer_than_cell_is_refused():
    cells = lonlat_to_cells(*zhejiang_points(3), 7)
    with pytest.raises(InvalidInput, match=r"cells\[0\] has resolution 7 < 8"):
        parents(cells, 8)


@pytest.mark.parametrize("res", [6, 9])
def test_cell_area_matches_geodesic_area_of_boundary(res):
    cells = lonlat_to_cells(*zhejiang_points(20), res)
    areas = cell_area_m2(cells)
    for poly, area in zip(cell_boundaries(cells), areas, strict=True):
        assert abs(GEOD.geometry_area_perimeter(poly)[0]) == pytest.approx(area, rel=0.01)


# --------------------------------------------------------------------------- regions


@pytest.mark.parametrize(("radius_m", "res"), [(250.0, 10), (1000.0, 9), (5000.0, 7), (3000.0, 9)])
def test_disk_radius_is_true_metres(radius_m, res):
    """Every centre inside the radius is returned, and none outside (checked by brute force)."""
    lon, lat = NINGBO
    cells = cells_in_disk(lon, lat, radius_m, res)
    c_lon, c_lat = cell_centres(cells)
    assert (metres(lon, lat, c_lon, c_lat) <= radius_m).all()
    # brute force: every cell of a box well beyond the radius, filtered by geodesic distance
    pad_deg = 2 * radius_m / 111_000 + 0.02
    box = shapely.box(
        lon - pad_deg / np.cos(np.radians(lat)),
        lat - pad_deg,
        lon + pad_deg / np.cos(np.radians(lat)),
        lat + pad_deg,
    )
    every = polygon_to_cells(box, res)
    e_lon, e_lat = cell_centres(every)
    expected = np.sort(every[metres(lon, lat, e_lon, e_lat) <= radius_m])
    np.testing.assert_array_equal(cells, expected)
    # and the count is close to the disk's area over the cell area
    assert len(cells) == pytest.approx(np.pi * radius_m**2 / cell_area_m2(cells).mean(), rel=0.15)


def test_disk_is_sorted_unique_uint64():
    cells = cells_in_disk(*HANGZHOU, 2000.0, 9)
    assert cells.dtype == np.uint64
    assert (np.diff(cells.astype(np.int64)) > 0).all()


def test_zero_radius_gives_no_cell_unless_on_a_centre():
    assert cells_in_disk(*HANGZHOU, 0.0, 9).size == 0
    c_lon, c_lat = cell_centres(lonlat_to_cells(*HANGZHOU, 9))
    assert cells_in_disk(float(c_lon), float(c_lat), 0.0, 9).size == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"radius_m": -1.0}, "radius_m"),
        ({"radius_m": float("nan")}, "radius_m"),
        ({"radius_m": float("inf")}, "radius_m"),
        ({"radius_m": "1km"}, "radius_m"),
        ({"radius_m": 500_000.0, "res": 12}, "radius_m"),  # too many cells
        ({"res": 16}, "res"),
        ({"res": -1}, "res"),
        ({"res": 9.0}, "res"),
        ({"res": True}, "res"),
        ({"lat": 95.0}, "lat"),
        ({"lon": float("nan")}, "lon"),
        ({"lon": [120.0, 121.0], "lat": [30.0, 30.0]}, "lon"),
    ],
)
def test_disk_bad_input(kwargs, field):
    args = {"lon": HANGZHOU[0], "lat": HANGZHOU[1], "radius_m": 100.0, "res": 9, **kwargs}
    with pytest.raises(InvalidInput) as info:
        cells_in_disk(**args)
    assert info.value.field == field


def test_polygon_with_hole():
    outer = shapely.box(120.0, 30.0, 120.2, 30.2)
    hole = shapely.box(120.05, 30.05, 120.15, 30.15)
    ring = shapely.Polygon(outer.exterior.coords, [hole.exterior.coords])
    full = polygon_to_cells(outer, 8)
    holed = polygon_to_cells(ring, 8)
    in_hole = polygon_to_cells(hole, 8)
    assert len(in_hole) > 0
    assert not np.isin(in_hole, holed).any()
    np.testing.assert_array_equal(np.sort(np.concatenate([holed, in_hole])), full)


def test_multipolygon_is_the_union_of_its_parts():
    a = shapely.box(120.0, 30.0, 120.05, 30.05)
    b = shapely.box(121.0, 29.0, 121.05, 29.05)
    both = polygon_to_cells(shapely.MultiPolygon([a, b]), 9)
    np.testing.assert_array_equal(both, np.union1d(polygon_to_cells(a, 9), polygon_to_cells(b, 9)))


def test_polygon_cells_have_centres_inside():
    poly = shapely.Polygon([(120.0, 30.0), (120.3, 30.05), (120.1, 30.3)])
    cells = polygon_to_cells(poly, 9)
    c_lon, c_lat = cell_centres(cells)
    assert shapely.contains_xy(poly, c_lon, c_lat).all()
    assert cells.dtype == np.uint64 and (np.diff(cells.astype(np.int64)) > 0).all()


@pytest.mark.parametrize(
    "geometry",
    [
        shapely.Polygon(),
        shapely.Polygon([(120, 30), (120.1, 30.1), (120.1, 30), (120, 30.1)]),  # bow-tie
        shapely.Point(120, 30),
        shapely.box(30, 120, 30.1, 120.1),  # swapped: lat beyond 90
    ],
)
def test_bad_polygons(geometry):
    with pytest.raises(InvalidGeometry) as info:
        polygon_to_cells(geometry, 12)
    assert info.value.field == "geometry"


def test_polygon_too_many_cells():
    """A province-sized polygon at a street-level resolution is refused before h3 allocates."""
    with pytest.raises(InvalidInput, match="coarser resolution") as info:
        polygon_to_cells(shapely.box(118.0, 27.0, 123.0, 31.2), 12)
    assert info.value.field == "geometry"
    assert len(polygon_to_cells(shapely.box(118.0, 27.0, 123.0, 31.2), 5)) > 100


# --------------------------------------------------------------------------- empty input


def test_empty_inputs():
    empty = np.array([], dtype=np.uint64)
    assert lonlat_to_cells([], [], 9).shape == (0,)
    assert lonlat_to_cells(np.empty(0), np.empty(0), 9).dtype == np.uint64
    lon, lat = cell_centres(empty)
    assert lon.shape == lat.shape == (0,) and lon.dtype == np.float64
    assert cell_boundaries([]).shape == (0,)
    assert parents(empty, 3).shape == (0,)
    assert cell_area_m2([]).shape == (0,)
    assert cells_to_str(empty).shape == (0,)
    assert str_to_cells([]).shape == (0,)
    assert str_to_cells([]).dtype == np.uint64
    assert resolutions(empty).shape == (0,)


def test_parents_on_index_bits_agree_with_the_library():
    import h3.api.numpy_int as lib

    cells = h3grid.cells_in_disk(121.6, 29.9, 5000.0, 9)
    for r in (0, 5, 7, 8, 9):
        ours = h3grid.parents(cells, r)
        assert ours.tolist() == [lib.cell_to_parent(int(c), r) for c in cells.tolist()]
        assert h3grid.parents(cells, r, check=False).tolist() == ours.tolist()


def test_descendant_range_holds_exactly_the_descendants():
    import h3.api.numpy_int as lib

    cells = h3grid.cells_in_disk(121.6, 29.9, 20000.0, 9)
    for r in (5, 7):
        parents = np.unique(h3grid.parents(cells, r))
        lo, hi = h3grid.descendant_range(parents, 9)
        for p, a, b in zip(parents.tolist(), lo.tolist(), hi.tolist(), strict=True):
            children = lib.cell_to_children(p, 9).astype(np.int64)
            assert children.min() >= a and children.max() <= b
        # and no cell of the disk falls in another parent's range
        owner = h3grid.parents(cells, r).astype(np.int64)
        for p, a, b in zip(parents.astype(np.int64).tolist(), lo.tolist(), hi.tolist(), strict=True):
            inside = (cells.astype(np.int64) >= a) & (cells.astype(np.int64) <= b)
            assert np.all(owner[inside] == p)
