# metricbook: `make build` runs the main job on the embedded DuckDB; `make test` runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DBT := $(BIN)/dbt
export DBT_PROFILES_DIR := $(CURDIR)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
# Test runs get their own database and target dir, so they never clobber the main build.
TEST_DB := build/test/metricbook.duckdb

.PHONY: build test lint dbt-test pytest docs seeds clean

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

# Re-installs when pyproject.toml changes. --compile-bytecode: this machine sets
# PYTHONDONTWRITEBYTECODE, and without .pyc files every dbt start is seconds slower.
$(VENV)/.installed-core: pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -e ".[dev]"
	touch $@ $(VENV)/.installed-core

## build: dbt build (seeds, models, data and unit tests) on the shipped seeds, in build/metricbook.duckdb
build: $(VENV)/.installed-core
	mkdir -p build
	$(DBT) build

## test: lint, dbt build on a fresh test database, dbt docs, pytest
test: $(VENV)/.installed-dev lint dbt-test docs pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check python
	$(BIN)/ruff format --check python
	$(BIN)/sqlfluff lint models analysis tests --nocolor

dbt-test: $(VENV)/.installed-dev
	rm -rf build/test && mkdir -p build/test
	METRICBOOK_DUCKDB_PATH=$(TEST_DB) $(DBT) build --target-path target_test

docs: $(VENV)/.installed-dev
	METRICBOOK_DUCKDB_PATH=$(TEST_DB) $(DBT) docs generate --target-path target_test

pytest: $(VENV)/.installed-dev
	$(BIN)/pytest

## seeds: regenerate the shipped seed CSVs and their manifest (deterministic)
seeds: $(VENV)/.installed-core
	$(BIN)/python -m metricbook.seed_data --out seeds

clean:
	rm -rf build target target_* logs .pytest_cache
