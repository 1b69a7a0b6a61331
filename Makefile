# Quick start: `make demo` runs the pipeline on sample data, `make test` runs the tests.
# Both create the virtualenv on first use; Java 17+ is the one system prerequisite.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test docker-test java dev lint clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

java: $(BIN)/.installed
	@$(BIN)/python -m finance_assets.java

demo: java
	$(BIN)/finance-assets demo

test: java
	$(BIN)/pytest

# The Docker deployment, built and run for real (docker/README.md): needs a Docker engine,
# or root on Debian to install and start one. Prints its progress as it goes.
docker-test: $(BIN)/.installed
	$(BIN)/pytest -s finance_assets_tests/test_docker_files.py finance_assets_tests/test_docker_deploy.py

dev: java
	DAGSTER_HOME=$${DAGSTER_HOME:-$(CURDIR)/.dagster_home} ; mkdir -p $$DAGSTER_HOME ; \
	DAGSTER_HOME=$$DAGSTER_HOME $(BIN)/dagster dev -w workspace.yaml

lint: $(BIN)/.installed
	$(BIN)/ruff check .

clean:
	rm -rf data .dagster_home
