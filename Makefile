# Gatehouse: `make run` starts the console, `make test` runs the whole suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON := $(PYTHON)
export UV_CACHE_DIR ?= $(HOME)/.cache/uv
# Project sizes of bench/spec_scale.py; 1000,10000,50000 adds about 15 minutes.
SPEC_SCALE_GATES ?= 1000,10000

.PHONY: help install services migrate demo run dev test test-fast lint format bench browser bench-tools

help:
	@echo "make run      install, migrate, load the demo project, start web + worker + beat on 127.0.0.1:8000"
	@echo "make dev      like run, but Django's reloading dev server instead of gunicorn"
	@echo "make test     install, then run the whole suite (unit, integration, browser)"
	@echo "make test-fast  the suite without the tests marked slow"
	@echo "make install  create .venv with the locked dependencies and the front-end assets"
	@echo "make lint     ruff check + format check + mypy"
	@echo "make bench    run the benchmarks, figures written to bench/results.json"
	@echo "              (SPEC_SCALE_GATES=1000,10000,50000 adds the 50,000-gate project)"

$(UV):
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found); set PYTHON=/path/to/python3.11." >&2; exit 1; }
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

install: $(UV)
	$(UV) sync --frozen
	npm ci --no-audit --no-fund --loglevel=error
	@scripts/services.sh

services:
	@scripts/services.sh

migrate: install
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py demo_load

run: demo
	@echo
	@echo "Gatehouse is starting on http://127.0.0.1:8000/  (demo login: demo@gatehouse.local / demo-password)"
	@echo
	$(VENV)/bin/honcho start -f Procfile

# The reloading dev server (threaded: one PostgreSQL connection per request thread, so keep
# CONN_MAX_AGE=0 here); `make run` is what production runs.
dev: demo
	CONN_MAX_AGE=0 $(VENV)/bin/honcho start -f Procfile.dev

browser:
	@scripts/browser.sh

# wrk, make bench's HTTP load generator (its load checks run in make test too).
bench-tools:
	@scripts/bench-tools.sh

test: install browser bench-tools
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) manage.py makemigrations --check --dry-run >/dev/null
	DEBUG=false SECRET_KEY=$$(openssl rand -hex 32) ALLOWED_HOSTS=gatehouse.example \
	  $(PY) manage.py check --deploy --fail-level WARNING
	$(VENV)/bin/pytest -n 2 --create-db

# The fast loop: everything but the tests marked slow (live servers on private clusters).
test-fast: install browser bench-tools
	$(VENV)/bin/pytest -n 2 --create-db -m "not slow"

# mypy checks the apps listed in pyproject.toml [tool.mypy] (strict on console.specs, the
# review policy/registry and the review services); its cache (.mypy_cache) makes a warm
# run a few seconds.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: migrate bench-tools
	@mkdir -p bench
	rm -f bench/results.json
	$(PY) bench/evaluator.py --out bench/results.json
	$(PY) manage.py gates_bench_spec --gates 10000 --out bench/results.json
	$(PY) bench/experiments.py --out bench/results.json
	$(PY) manage.py experiments_bench_spec --experiments 1000 --layers 50 --out bench/results.json
	$(PY) bench/publishing.py --out bench/results.json
	$(PY) bench/spec_scale.py --gates $(SPEC_SCALE_GATES) --out bench/results.json
	$(PY) bench/idlists.py --out bench/results.json
	$(PY) bench/events.py --out bench/results.json
	$(PY) bench/results_refresh.py --units 1000000 --events 20000000 --out bench/results.json
	$(PY) bench/results_refresh.py --growth --out bench/results.json
	@echo "Figures written to bench/results.json"
	@$(PY) bench/summary.py bench/results.json
