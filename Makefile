# Quick start: `make demo` runs the pipeline on sample data, `make test` runs the tests.
# Both create the virtualenv on first use; Java 17+ is the one system prerequisite.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# One Dagster instance for everything started from this checkout (git-ignored).
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: demo test test-fast check docker-test java dev lint clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

java: $(BIN)/.installed
	@$(BIN)/python -m finance_assets.lake.java
	@$(BIN)/python -m finance_assets.lake.class_archive

demo: java
	$(BIN)/finance-assets demo

# The definitions load (dg check defs) and imports flow one way (import-linter), then every test.
test: java check
	$(BIN)/pytest

check: $(BIN)/.installed
	$(BIN)/dg check defs
	$(BIN)/lint-imports
	$(BIN)/ruff check .

# Without Spark clusters, browsers, Docker or whole-pipeline runs: a minute or two.
test-fast: java
	$(BIN)/pytest -m "not slow and not cluster and not browser and not docker"

# The Docker deployment, built and run for real (docker/README.md): needs a Docker engine,
# or root on Debian to install and start one. Prints its progress as it goes.
docker-test: $(BIN)/.installed
	$(BIN)/pytest -n 0 -s finance_assets_tests/deployment/test_docker_files.py finance_assets_tests/deployment/test_docker_deploy.py

# The Dagster UI, daemon and code server (dg dev) on this checkout's instance, where
# `make demo` recorded its runs. Ctrl-C stops everything it started.
# Another port or host: make dev DEV_ARGS="--port 3001 --host 0.0.0.0"
dev: java
	exec $(BIN)/finance-assets dev $(DEV_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check .

clean:
	rm -rf data .dagster_home
