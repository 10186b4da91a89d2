"""The `onemap plume run` face (mounted under a parent app, as api/cli.py will)."""

import ast
import json
from pathlib import Path

import pytest
import rasterio
import typer
from typer.testing import CliRunner

from api.plume_cli import plume_app

app = typer.Typer()
app.add_typer(plume_app, name="plume")


@app.command()
def _other() -> None:  # a second command keeps `plume` a sub-group, as in the real CLI
    pass


BASE = ["plume", "run", "--chemical", "chlorine", "--lon", "121.70", "--lat", "29.97",
        "--wind-speed", "3", "--wind-from", "45"]
runner = CliRunner()


def invoke(*extra):
    return runner.invoke(app, [*BASE, *extra])


def test_geojson_on_stdout_and_warnings_on_stderr():
    res = invoke("--rate-g-s", "1000", "--duration-s", "600", "--stability", "D",
                 "--terrain", "urban", "--format", "geojson")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["type"] == "FeatureCollection"
    assert doc["features"][0]["properties"]["level"].startswith("AEGL-3")
    assert "warning: dense gas" in res.stderr


def test_instantaneous_with_night_and_cloud():
    res = invoke("--mass-g", "1e5", "--time-of-day", "night", "--cloud-cover", "2")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["onemap"]["stability"] == "E"  # 3 m/s, clear night


def test_geotiff_and_html_files(tmp_path):
    tif, html = tmp_path / "c.tif", tmp_path / "m.html"
    assert invoke("--rate-g-s", "500", "--stability", "D", "--format", "geotiff",
                  "--out", str(tif)).exit_code == 0
    with rasterio.open(tif) as src:
        assert src.count == 1 and src.tags()["units"] == "ppm"
    assert invoke("--rate-g-s", "500", "--stability", "D", "--format", "html",
                  "--out", str(html)).exit_code == 0
    assert "<html" in html.read_text(encoding="utf-8").lower()


@pytest.mark.parametrize("extra, needle", [
    (["--rate-g-s", "1000", "--stability", "Q"], "stability"),
    (["--rate-g-s", "abc", "--stability", "D"], "rate_g_s"),
    (["--rate-g-s", "nan", "--stability", "D"], "rate_g_s"),
    (["--rate-g-s", "-5", "--stability", "D"], "rate_g_s"),
    (["--stability", "D"], "release"),
    (["--rate-g-s", "1", "--mass-g", "1", "--stability", "D"], "release"),
    (["--rate-g-s", "1", "--stability", "D", "--format", "tif"], "format"),
    (["--rate-g-s", "1", "--stability", "D", "--format", "geotiff"], "out"),
    (["--rate-g-s", "1", "--time-of-day", "day"], "insolation"),
    (["--rate-g-s", "1", "--stability", "D", "--cell-m", "0"], "cell_m"),
])
def test_bad_parameters_exit_2_with_one_line(extra, needle):
    res = invoke(*extra)
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0]
    assert res.stdout == ""


@pytest.mark.parametrize("args, needle", [
    (["--lat", "95"], "source_lat"), (["--wind-speed", "0"], "wind_speed"),
    (["--chemical", "chlorin"], "did you mean: chlorine"),
])
def test_bad_place_wind_and_chemical(args, needle):
    argv = list(BASE)
    for i in range(0, len(args), 2):
        argv[argv.index(args[i]) + 1] = args[i + 1]
    res = runner.invoke(app, [*argv, "--rate-g-s", "10", "--stability", "D"])
    assert res.exit_code == 2 and needle in res.stderr


def test_missing_required_option_is_one_line():
    res = runner.invoke(app, ["plume", "run", "--chemical", "chlorine", "--rate-g-s", "1",
                              "--stability", "D"])
    assert res.exit_code == 2 and res.stderr.strip().splitlines() == [
        "error: wind_speed: required (--wind-speed)"]


def test_cli_imports_only_plume_typer_rich():
    src = Path(__file__).resolve().parents[2] / "api" / "plume_cli.py"
    tree = ast.parse(src.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add(node.module.split(".")[0])
    stdlib = {"__future__", "ast", "json", "math", "sys", "pathlib", "typing", "enum"}
    assert roots - stdlib <= {"plume", "typer", "rich"}
