# Relay: `make run` serves the demo, `make test` runs every check from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FLASK := $(BIN)/flask --app wsgi

.PHONY: install run init demo test test-fast lint audit bench clean

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

run: demo
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

test: install lint audit
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

bench: install
	$(BIN)/python -m bench.bench_kdf

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
