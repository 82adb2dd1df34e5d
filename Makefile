# Hindsight: `make run` to start it, `make test` to test it. Both set everything up first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
KB_BASE_URL ?= http://$(HOST):$(PORT)
export KB_BASE_URL

.PHONY: run test lint format install install-test bench bench-load bench-search clean

$(BIN)/kb: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test-deps: $(BIN)/kb
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/kb

install-test: $(VENV)/.test-deps

run: install
	$(BIN)/kb db upgrade
	$(BIN)/kb seed --if-empty --no-hint
	$(BIN)/kb themes rebuild
	@$(BIN)/kb seed --hint-only
	$(BIN)/kb run --host $(HOST) --port $(PORT)

test: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install-test
	$(BIN)/python bench/import_speed.py

# Load test (issue 8): gunicorn with 2 workers, 10,000 postmortems, SQLite and (with
# KB_LOAD_POSTGRES, a database it may empty) PostgreSQL; about 10 minutes. docs/performance.md
bench-load: install-test
	$(BIN)/python bench/load_test.py $(if $(KB_LOAD_POSTGRES),--postgres $(KB_LOAD_POSTGRES))

# Search (issue 5): 50,000 synthetic postmortems, Whoosh beside SQLite FTS5 (several minutes).
bench-search: install-test
	$(BIN)/python bench/search_bench.py

clean:
	rm -rf $(VENV) instance .pytest_cache
