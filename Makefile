# LabelHive — the two commands are `make run` and `make test`; everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make run` needs only the runtime dependencies; `make test` adds the extras to the same .venv
RUN_STAMP := $(VENV)/.installed-run
HOST ?= 127.0.0.1
PORT ?= 5000
# pip says nothing but errors: no upgrade nag, no build back-end deprecation screens
export PIP_DISABLE_PIP_VERSION_CHECK := 1
PIP_INSTALL := -m pip install --quiet --quiet
# PYBOSSA's clients (tests/compat) pin click 7, the app needs click 8: a virtualenv of their own
PYBOSSA_VENV := .venv-pybossa
PYBOSSA_STAMP := $(PYBOSSA_VENV)/.installed
# LocalStack's S3 (the signature-checking S3 of tests/common/s3.py) needs Python >= 3.13:
# scripts/python313 finds one (or installs Debian's) and otherwise says how to get one
LOCALSTACK_PYTHON ?=
VENV_LOCALSTACK ?= .venv-localstack
LOCALSTACK_STAMP := $(VENV_LOCALSTACK)/.installed
# the OpenID provider of the sign-in tests (npm's oidc-provider), in a cache outside the tree
OIDC_PROVIDER_STAMP := $(VENV)/.installed-oidc-provider

.PHONY: run test lint audit deps system-deps clean bench

## run: LabelHive in embedded mode (SQLite, no Redis, demo project) on http://$(HOST):$(PORT)/
## (PORT=8000, HOST=0.0.0.0 to change); installs only the runtime dependencies; Ctrl-C stops it
run: $(RUN_STAMP)
	$(BIN)/labelhive serve --demo --host $(HOST) --port $(PORT)

## test: the whole suite; installs system packages (apt-get) and Python packages (virtualenv) when missing
test: system-deps $(STAMP) $(LOCALSTACK_STAMP) $(PYBOSSA_STAMP) $(OIDC_PROVIDER_STAMP)
	$(BIN)/ruff check app operator tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy
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
	$(BIN)/lint-imports
	$(BIN)/mypy

deps: $(STAMP) $(LOCALSTACK_STAMP) $(PYBOSSA_STAMP) $(OIDC_PROVIDER_STAMP)

system-deps:
	scripts/install-system-deps

# the virtualenv itself: Python >= 3.11 with venv (Debian: python3-venv)
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { echo "LabelHive needs Python >= 3.11 as $(PYTHON) (or PYTHON=/path/to/python3.11)" >&2; exit 1; }
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "$(PYTHON) cannot make a virtualenv: install python3-venv (apt-get install python3-venv)" >&2; exit 1; }
	@$(BIN)/python $(PIP_INSTALL) --upgrade pip

# what `make run` needs: LabelHive and its runtime dependencies, no extras
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing LabelHive's runtime dependencies into $(VENV) (a minute or two the first time)"
	$(BIN)/python $(PIP_INSTALL) -e .
	@touch $(RUN_STAMP)

# what the tests, lint and the operator need on top (its own stamp: a `make run` before is not enough)
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python $(PIP_INSTALL) -e '.[test,operator]'
	@touch $(STAMP)

$(LOCALSTACK_STAMP): tests/requirements-localstack.txt
	test -x $(VENV_LOCALSTACK)/bin/python || { py="$$(LOCALSTACK_PYTHON='$(LOCALSTACK_PYTHON)' scripts/python313)" && "$$py" -m venv $(VENV_LOCALSTACK); }
	$(VENV_LOCALSTACK)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_LOCALSTACK)/bin/python -m pip install --quiet -r tests/requirements-localstack.txt
	touch $(LOCALSTACK_STAMP)

$(OIDC_PROVIDER_STAMP): tests/common/oidc_provider/package.json | $(STAMP)
	$(BIN)/python -m tests.common.oidc install
	touch $(OIDC_PROVIDER_STAMP)

$(PYBOSSA_STAMP): tests/requirements-pybossa.txt
	test -x $(PYBOSSA_VENV)/bin/python || $(PYTHON) -m venv $(PYBOSSA_VENV)
	$(PYBOSSA_VENV)/bin/python -m pip install --quiet -r tests/requirements-pybossa.txt
	touch $(PYBOSSA_STAMP)

clean:
	rm -rf $(VENV) $(VENV_LOCALSTACK) $(PYBOSSA_VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache .import_linter_cache test-artifacts

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

## images: build the app image (web, worker, scheduler, migrations) and the operator image with the
## engine of DOCKER_HOST; without a registry from a Debian base (debootstrap, needs root); cached,
## seconds when nothing changed (scripts/build-images, docker/README.md)
images:
	VERSION=$(VERSION) APP_IMAGE=$(APP_IMAGE) OPERATOR_IMAGE=$(OPERATOR_IMAGE) scripts/build-images app operator

## release: build both images, push them, sign them and attest their SBOMs with cosign, by digest
## (the release workflow runs it on a tag vVERSION; docker/README.md "Verifying a release")
.PHONY: release
release:
	@[ -z "$(RELEASE_TAG)" ] || [ "$(RELEASE_TAG)" = "v$(VERSION)" ] || { echo "release: the tag $(RELEASE_TAG) is not v$(VERSION), the version in pyproject.toml" >&2; exit 1; }
	@mkdir -p build/release
	VERSION=$(VERSION) APP_IMAGE=$(APP_IMAGE) OPERATOR_IMAGE=$(OPERATOR_IMAGE) PUSH=1 scripts/build-images app operator > build/release/images.txt || { cat build/release/images.txt; exit 1; }
	cat build/release/images.txt
	scripts/sign-images build/release/images.txt

## e2e: the kind end-to-end test (needs Docker, kind, kubectl, helm); creates and deletes a cluster
e2e: $(STAMP)
	APP_IMAGE=$(APP_IMAGE) OPERATOR_IMAGE=$(OPERATOR_IMAGE) tests/e2e/run.sh
