#!/usr/bin/env bash
# Set up everything OneMap needs, idempotently:
#   1. Debian packages (as root; as a normal user they must already be there)
#   2. a virtualenv at .venv with `pip install -e .[dev]` (redone only when pyproject.toml changes)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || APT_PACKAGES+=(postgresql-15)
[ -f /usr/share/postgresql/15/extension/postgis.control ] || APT_PACKAGES+=(postgresql-15-postgis-3)
python3 -c 'import venv, ensurepip' 2>/dev/null || APT_PACKAGES+=(python3-venv)
command -v runuser >/dev/null || APT_PACKAGES+=(util-linux)
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || APT_PACKAGES+=(mosquitto)  # telemetry: our own broker process (never the distribution's service)
command -v ogrinfo >/dev/null || APT_PACKAGES+=(gdal-bin)  # the OGC API tests read /ogc with GDAL's OAPIF driver
command -v npm >/dev/null || APT_PACKAGES+=(nodejs npm)  # the web map's packages (webmap/package-lock.json)
[ -x /usr/bin/chromium ] || APT_PACKAGES+=(chromium)  # browser tests (Playwright drives Debian's Chromium)
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || APT_PACKAGES+=(fonts-wqy-microhei)  # CJK text and map glyphs

if [ ${#APT_PACKAGES[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "==> installing Debian packages: ${APT_PACKAGES[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
  else
    echo "error: missing Debian packages: ${APT_PACKAGES[*]} (install them as root: apt-get install ${APT_PACKAGES[*]})" >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
  echo "error: Python >= 3.11 is required (found $("$PY" --version 2>&1))" >&2; exit 1; }

[ -x .venv/bin/python ] || { echo "==> creating .venv"; "$PY" -m venv .venv; }
STAMP=".venv/.onemap-installed-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -f "$STAMP" ]; then
  echo "==> installing Python packages into .venv (pip install -e .[dev])"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  rm -f .venv/.onemap-installed-*
  touch "$STAMP"
fi
# 3. the web map's browser packages (MapLibre GL JS, Leaflet) from npm, pinned by
#    webmap/package-lock.json, then copied where the API serves them (webmap/dist)
LOCK_STAMP="webmap/node_modules/.onemap-installed-$(cat webmap/package-lock.json webmap/build.mjs | sha1sum | cut -c1-12)"
if [ ! -f "$LOCK_STAMP" ]; then
  echo "==> installing the web map's npm packages (npm ci)"
  (cd webmap && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
  rm -f webmap/node_modules/.onemap-installed-*
  touch "$LOCK_STAMP"
fi
echo "==> set-up done"
