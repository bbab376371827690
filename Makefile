# Relay: `make run` serves the demo, `make test` runs every check from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FLASK := $(BIN)/flask --app wsgi

CHROMIUM := /usr/bin/chromium
AXE := node_modules/axe-core/axe.min.js

# The suite runs in two processes, one per core of the CI machine (pytest-xdist), each with
# its own files, ports and PostgreSQL database (tests/conftest.py). Whole test files go to
# one process (`--dist loadfile` in pyproject.toml), so a module's servers start once.
# `make test PYTEST_WORKERS=0` runs it in one process.
PYTEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -n $(PYTEST_WORKERS)

.PHONY: install run init demo test test-fast lint audit browser ocr bench clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

init: install
	$(FLASK) init

demo: init
	$(FLASK) demo

# Mail leaves only through the outbox worker, so the demo runs one beside the server.
run: demo
	$(FLASK) outbox send --loop --interval 5 >/dev/null & worker=$$!; \
	trap 'kill $$worker' EXIT INT TERM; \
	$(FLASK) run --host 127.0.0.1 --port 5000

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/bandit --quiet --recursive relay

# Fails on any known advisory for a pinned requirement. It needs PyPI's JSON API (or
# OSV): where a registry mirror serves only the simple index, it says each package
# "could not be audited" rather than pretending.
audit: install
	$(BIN)/pip-audit --requirement requirements.txt --progress-spinner off

# The browser suite (tests/browser) needs Chromium and axe-core: Debian's chromium where
# apt-get exists (Playwright's own browser download elsewhere), axe-core from npm.
browser: install $(AXE)
	@test -x $(CHROMIUM) || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    $(BIN)/playwright install chromium; \
	  fi; }

$(AXE): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm; }
	npm ci --no-audit --no-fund
	touch $(AXE)

# Paper letters are read back with Tesseract (relay/services/scans.py): Debian's packages.
ocr:
	@command -v tesseract >/dev/null 2>&1 || { \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr tesseract-ocr-eng; }

test: install lint audit browser ocr
	$(PYTEST)

test-fast: install ocr
	$(PYTEST) -m "not slow"

bench: install
	$(BIN)/python -m bench.bench_kdf
	$(BIN)/python -m bench.bench_flags
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.bench_dashboard

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache node_modules
