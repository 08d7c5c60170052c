# LabelHive — the two commands are `make run` and `make test`; everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# PYBOSSA's clients (tests/compat) pin click 7, the app needs click 8: a virtualenv of their own
PYBOSSA_VENV := .venv-pybossa
PYBOSSA_STAMP := $(PYBOSSA_VENV)/.installed
# LocalStack's S3 (the signature-checking S3 of tests/common/s3.py) needs Python >= 3.13
LOCALSTACK_PYTHON ?= $(firstword $(wildcard /root/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13 2>/dev/null))
VENV_LOCALSTACK ?= .venv-localstack
LOCALSTACK_STAMP := $(VENV_LOCALSTACK)/.installed

.PHONY: run test lint audit deps system-deps clean bench

## run: LabelHive in embedded mode (SQLite, no Redis, demo project) on http://127.0.0.1:5000
run: $(STAMP)
	$(BIN)/labelhive serve --demo --host 127.0.0.1 --port 5000

## test: the whole suite; installs system packages (apt-get) and Python packages (virtualenv) when missing
test: system-deps $(STAMP) $(LOCALSTACK_STAMP) $(PYBOSSA_STAMP)
	$(BIN)/ruff check app operator tests bench
	$(BIN)/pytest $(PYTEST_ARGS)

## bench: the benchmarks in bench/ (needs what `make test` installs); BENCH_SCALE=0.1 for a quick run,
## BENCH="annotate export" for some; one summary line each, JSON lines in bench/results/
bench: system-deps $(STAMP) $(LOCALSTACK_STAMP)
	$(BIN)/python -m bench $(BENCH)

## audit: known vulnerabilities in the installed Python packages (asks PyPI's advisory service)
audit: $(STAMP)
	$(BIN)/pip-audit --skip-editable --strict

lint: $(STAMP)
	$(BIN)/ruff check app operator tests bench

deps: $(STAMP) $(LOCALSTACK_STAMP) $(PYBOSSA_STAMP)

system-deps:
	scripts/install-system-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,operator]'
	touch $(STAMP)

$(LOCALSTACK_STAMP): tests/requirements-localstack.txt
	@test -n "$(LOCALSTACK_PYTHON)" || { echo "LocalStack needs Python >= 3.13: set LOCALSTACK_PYTHON=/path/to/python3.13" >&2; exit 1; }
	test -x $(VENV_LOCALSTACK)/bin/python || $(LOCALSTACK_PYTHON) -m venv $(VENV_LOCALSTACK)
	$(VENV_LOCALSTACK)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_LOCALSTACK)/bin/python -m pip install --quiet -r tests/requirements-localstack.txt
	touch $(LOCALSTACK_STAMP)

$(PYBOSSA_STAMP): tests/requirements-pybossa.txt
	test -x $(PYBOSSA_VENV)/bin/python || $(PYTHON) -m venv $(PYBOSSA_VENV)
	$(PYBOSSA_VENV)/bin/python -m pip install --quiet -r tests/requirements-pybossa.txt
	touch $(PYBOSSA_STAMP)

clean:
	rm -rf $(VENV) $(VENV_LOCALSTACK) $(PYBOSSA_VENV) build *.egg-info .pytest_cache .ruff_cache test-artifacts

## soak: mixed load with periodic faults (PG restart, Redis master kill, worker SIGKILL), then a
## consistency check; SOAK_SECONDS (default 1800) and SOAK_FAULT_INTERVAL (default 60) tune it
.PHONY: soak
soak: system-deps $(STAMP)
	SOAK_SECONDS=$${SOAK_SECONDS:-1800} $(BIN)/python -m bench.soak

# --- images and the kind end-to-end test (docker/README.md, tests/e2e/README.md) ---
.PHONY: images e2e
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
APP_IMAGE ?= ghcr.io/labelhive/labelhive:$(VERSION)
OPERATOR_IMAGE ?= ghcr.io/labelhive/labelhive-operator:$(VERSION)

## images: build the app image (web, worker, scheduler, migrations) and the operator image (needs Docker)
images:
	docker build -f docker/app.Dockerfile --build-arg VERSION=$(VERSION) -t $(APP_IMAGE) .
	docker build -f docker/operator.Dockerfile --build-arg VERSION=$(VERSION) -t $(OPERATOR_IMAGE) .

## e2e: the kind end-to-end test (needs Docker, kind, kubectl, helm); creates and deletes a cluster
e2e: $(STAMP)
	APP_IMAGE=$(APP_IMAGE) OPERATOR_IMAGE=$(OPERATOR_IMAGE) tests/e2e/run.sh
