# OneMap: the two commands.
#   make demo  — set up everything, start local PostGIS and the MQTT broker, load the Zhejiang demo,
#                ingest and simulate telemetry in the background, serve on http://127.0.0.1:8000
#   make test  — set up everything, start local PostGIS, run the whole test suite
.PHONY: setup demo test db-up db-down bench

ONEMAP := .venv/bin/onemap
HOST ?= 127.0.0.1
PORT ?= 8000
ENTERPRISES ?= 20000
SIM_SENSORS ?= 200

setup:
	@bash scripts/setup.sh

db-up: setup
	@$(ONEMAP) db up

demo: db-up
	@$(ONEMAP) demo load --enterprises $(ENTERPRISES) --keep-existing
	@$(ONEMAP) telemetry broker start
	@mkdir -p .onemap/telemetry
	@echo "==> telemetry: ingest worker and simulator in the background (logs in .onemap/telemetry/)"
	@$(ONEMAP) telemetry ingest --quiet >.onemap/telemetry/ingest.log 2>&1 & ingest=$$!; \
	  $(ONEMAP) telemetry simulate --sensors $(SIM_SENSORS) --rate 1 --duration 86400 --json \
	    >.onemap/telemetry/simulate.log 2>&1 & sim=$$!; \
	  trap 'kill $$sim $$ingest 2>/dev/null' EXIT INT TERM; \
	  echo "==> serving on http://$(HOST):$(PORT)  (Ctrl-C to stop)"; \
	  $(ONEMAP) serve --host $(HOST) --port $(PORT)

test: db-up
	@.venv/bin/python -m pytest

bench: db-up
	@.venv/bin/python benchmarks/demo_load_bench.py

db-down:
	@$(ONEMAP) telemetry broker stop
	@$(ONEMAP) db down
