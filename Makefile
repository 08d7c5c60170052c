# LabelHive — the two commands are `make run` and `make test`; everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint deps system-deps clean

## run: LabelHive in embedded mode (SQLite, no Redis, demo project) on http://127.0.0.1:5000
run: $(STAMP)
	$(BIN)/labelhive serve --demo --host 127.0.0.1 --port 5000

## test: the whole suite; installs system packages (apt-get) and Python packages (virtualenv) when missing
test: system-deps $(STAMP)
	$(BIN)/ruff check app operator tests bench
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check app operator tests bench

deps: $(STAMP)

system-deps:
	scripts/install-system-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,operator]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache test-artifacts
