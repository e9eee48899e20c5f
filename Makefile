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
EMPTY_DB := build/test-empty/metricbook.duckdb

.PHONY: build test test-fast lint dbt-empty dbt-test dbt-test-engines dbt-test-postgres dbt-test-spark pytest docs seeds bench clean

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

# Re-installs when pyproject.toml changes. --compile-bytecode: this machine sets
# PYTHONDONTWRITEBYTECODE, and without .pyc files every dbt start is seconds slower.
$(VENV)/.installed-core: pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -e .
	touch $@

# The test environment also has the Postgres and Spark adapters (pyspark builds once, ~35 s).
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -e ".[dev,postgres,spark]"
	touch $@ $(VENV)/.installed-core

## build: dbt build (seeds, models, data and unit tests) on the shipped seeds, in
## build/metricbook.duckdb, then the seed experiment's readout (printed, and build/readout.html)
build: $(VENV)/.installed-core
	mkdir -p build
	$(BIN)/metricbook check-seeds seeds
	$(DBT) build
	$(BIN)/metricbook analyze --experiment exp_home_feed_ranking_v2 --report build/readout.html

## test: lint, dbt build --empty, dbt build on a fresh DuckDB (+ docs), then pytest beside the
## Postgres and Spark builds (each with its parity check)
# pytest and the engine builds run as two jobs: each is mostly one busy process (dbt's per-node
# Python, Spark's driver), so on two CPUs together they take about as long as pytest alone.
# Neither touches the other's files; their output is printed a job at a time.
test: $(VENV)/.installed-dev lint dbt-empty dbt-test docs
	$(MAKE) --no-print-directory -j2 --output-sync=target pytest dbt-test-engines

dbt-test-engines: $(VENV)/.installed-dev
	$(MAKE) --no-print-directory -j1 dbt-test-postgres dbt-test-spark

## test-fast: the pure tests (pytest -m "not build and not simulation and not generator":
## statistics' golden values and properties, config, CLI arguments, plots, mirrors' helpers),
## under a minute; `make test` still runs everything
test-fast: $(VENV)/.installed-dev
	$(BIN)/pytest -m "not build and not simulation and not generator"

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check python
	$(BIN)/ruff format --check python
	$(BIN)/sqlfluff lint models analysis tests --nocolor

# The cheap schema check: every model built on zero rows (refs and sources read nothing; the seeds
# still load), with its contract and data tests, on a database of its own. A compile error, a
# contract's type or a model that breaks on empty input fails here before the full build. Unit
# tests are left to dbt-test: --empty does not change their inputs.
dbt-empty: $(VENV)/.installed-dev
	rm -rf build/test-empty && mkdir -p build/test-empty
	$(BIN)/metricbook check-seeds seeds
	METRICBOOK_DUCKDB_PATH=$(EMPTY_DB) $(DBT) build --empty --exclude test_type:unit \
		--target-path target_empty

dbt-test: $(VENV)/.installed-dev
	rm -rf build/test && mkdir -p build/test
	$(BIN)/metricbook check-seeds seeds
	METRICBOOK_DUCKDB_PATH=$(TEST_DB) $(DBT) build --target-path target_test

docs: $(VENV)/.installed-dev
	METRICBOOK_DUCKDB_PATH=$(TEST_DB) $(DBT) docs generate --target-path target_test

pytest: $(VENV)/.installed-dev
	$(BIN)/pytest

# A throwaway PostgreSQL server (.ci/with-postgres): dbt build there, then every mart and the
# experiment readout compared with the DuckDB test build (metricbook.checks.parity), then the raw-data
# battery's hostile rows built on Postgres (rejected alike, no mart moved). Without the
# server binaries the step is skipped, except in CI, where a missing engine is a failure.
dbt-test-postgres: $(VENV)/.installed-dev
	if command -v initdb >/dev/null; then \
		.ci/with-postgres bash -c '$(DBT) build --target postgres --target-path target_postgres \
			&& METRICBOOK_DUCKDB_PATH=$(TEST_DB) $(BIN)/metricbook parity --targets duckdb,postgres \
			&& $(BIN)/pytest -q python/tests/test_robustness_raw.py python/tests/test_semantic_layer.py -k postgres'; \
	elif [ -n "$${CI:-}" ]; then echo "PostgreSQL server binaries (initdb) are missing" >&2; exit 1; \
	else echo "SKIPPED dbt build --target postgres: no PostgreSQL server binaries (initdb)"; fi

# Local Spark in the dbt process; warehouse and Derby metastore under build/test/spark; then
# the same parity check against the DuckDB test build.
dbt-test-spark: $(VENV)/.installed-dev
	if command -v java >/dev/null; then \
		METRICBOOK_SPARK_DIR=$(CURDIR)/build/test/spark $(DBT) build --target spark --target-path target_spark \
		&& METRICBOOK_SPARK_DIR=$(CURDIR)/build/test/spark METRICBOOK_DUCKDB_PATH=$(TEST_DB) \
			$(BIN)/metricbook parity --targets duckdb,spark; \
	elif [ -n "$${CI:-}" ]; then echo "Java is missing: Spark cannot run" >&2; exit 1; \
	else echo "SKIPPED dbt build --target spark: no Java runtime"; fi

## seeds: regenerate the shipped seed CSVs and their manifest (deterministic)
seeds: $(VENV)/.installed-core
	$(BIN)/metricbook seeds --out seeds

## bench: the benchmark (1M and 10M events; BENCH_ARGS="--with-100m" adds 100M), figures printed
## and written to build/bench/results.json
bench: $(VENV)/.installed-core
	$(BIN)/metricbook bench $(BENCH_ARGS)

clean:
	rm -rf build target target_* logs .pytest_cache
