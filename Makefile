# OneMap: the two commands.
#   make demo  — set up everything, start local PostGIS, load the Zhejiang demo, serve on http://127.0.0.1:8000
#   make test  — set up everything, start local PostGIS, run the whole test suite
.PHONY: setup demo test db-up db-down bench

ONEMAP := .venv/bin/onemap
HOST ?= 127.0.0.1
PORT ?= 8000
ENTERPRISES ?= 20000

setup:
	@bash scripts/setup.sh

db-up: setup
	@$(ONEMAP) db up

demo: db-up
	@$(ONEMAP) demo load --enterprises $(ENTERPRISES) --keep-existing
	@echo "==> serving on http://$(HOST):$(PORT)  (Ctrl-C to stop)"
	@$(ONEMAP) serve --host $(HOST) --port $(PORT)

test: db-up
	@.venv/bin/python -m pytest

bench: db-up
	@.venv/bin/python benchmarks/demo_load_bench.py

db-down:
	@$(ONEMAP) db down
