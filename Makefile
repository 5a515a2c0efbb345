# The README's commands. Each target sets itself up from nothing: a virtualenv installed from
# uv.lock (hash-pinned), then the dbt manifest Dagster needs to load the project.
SHELL := /bin/bash
# Resolved before PATH gains .venv/bin: the interpreter that runs uv, not the venv's.
PYTHON ?= $(shell command -v python3)
# The venv's interpreter: Debian's python3.11 (or 3.12) where the machine has one, else $(PYTHON).
# Debian links the interpreter into its executable (`ldd /usr/bin/python3.11`: no libpython),
# where pyenv's default build (the reference machine's python3) calls it through
# libpython3.11.so and is built without profile-guided optimisation: the same tests took 9 to 16%
# less CPU on Debian's (201 s against 221 and 239 s, measured). `make setup VENV_PYTHON=<path>`
# builds it on another interpreter.
VENV_PYTHON ?= $(firstword $(wildcard /usr/bin/python3.11 /usr/bin/python3.12) $(PYTHON))
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export ASSAY_HOME ?= $(CURDIR)/.assay
export PATH := $(BIN):$(PATH)
# Never let uv fetch a Python build: use the machine's interpreter.
export UV_PYTHON_DOWNLOADS := never
# Named by the interpreter: choosing another one rebuilds the venv on it.
INSTALLED := $(VENV)/.installed-$(shell echo '$(VENV_PYTHON)' | cksum | cut -d' ' -f1)
CHROMIUM := /usr/bin/chromium
CHROMIUM_STAMP := $(VENV)/.chromium
MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project/models dbt_project/tests -type f) dbt_project/dbt_project.yml dbt_project/profiles.yml

.PHONY: setup bytecode team-services demo demo-batch demo-team test test-fast test-team ui bench lint docs clean

setup: $(INSTALLED) $(MANIFEST) bytecode team-services

# The team stack's tests and `make bench-scale` start Debian's Postgres and redis-server on
# 127.0.0.1 (assay/testing/services.py). CI runs as root on a fresh Debian machine: install them
# there when missing. Elsewhere, without root, say how and go on (those tests then fail,
# naming what is missing).
PG_CTL := $(firstword $(wildcard /usr/lib/postgresql/*/bin/pg_ctl))
team-services:
	@missing=""; \
	[ -x /usr/bin/redis-server ] || command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	[ -n "$(PG_CTL)" ] || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "missing:$$missing (sudo apt-get install -y$$missing) for the team-stack tests and make bench-scale"; fi; \
	fi

# Every `assay` command, Dagster code server and dbt invocation is a fresh Python process that
# imports dagster, dbt and great_expectations. uv installs sources only, and where
# PYTHONDONTWRITEBYTECODE is set (as on the reference machine) Python never caches what it compiles: each
# process then compiles ~10,000 modules again (+6 s CPU measured per process that imports
# dagster and great_expectations). `uv sync --compile-bytecode` compiles the installed packages
# once; this compiles the project's own sources (editable, so not covered), skipping the
# unchanged ones.
bytecode: $(INSTALLED)
	@$(BIN)/python -m compileall -q -j 0 assay assets evaluators orchestration tests bench >/dev/null

$(INSTALLED): pyproject.toml uv.lock
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	rm -f $(VENV)/.installed*
	$(PYTHON) -m uv sync --frozen --extra dev --compile-bytecode --python $(VENV_PYTHON)
	@if find $(VENV) -name 'litellm_init.pth' | grep -q .; then echo "litellm_init.pth found: malicious litellm release"; exit 1; fi
	@touch $@

# The HTML report's render test screenshots a report in headless Chromium, and the UI test opens
# the Dagster UI in it. CI runs as root on a fresh Debian machine: install Debian's chromium there.
# Elsewhere, without root, say how and go on (those tests skip locally when chromium is missing
# and CI is unset; in CI they fail instead).
$(CHROMIUM_STAMP): $(INSTALLED)
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	  else echo "$(CHROMIUM) missing: install Debian's chromium (sudo apt-get install -y chromium) for the report and UI tests"; fi; \
	fi
	@if [ -x $(CHROMIUM) ]; then touch $@; fi

# `dbt parse` writes the manifest Dagster loads. (Not `dagster-dbt project prepare-and-package`:
# it runs `dbt --version`, which asks pypi.org for the latest dbt on every call.)
$(MANIFEST): $(INSTALLED) $(DBT_SOURCES)
	cd dbt_project && $(BIN)/dbt parse --quiet --project-dir . --profiles-dir .
	@touch $@

demo: setup
	$(BIN)/assay demo

# `make demo` on the team stack, all on 127.0.0.1: Postgres and Redis (Debian's), moto_server
# as the S3 endpoint (a stand-in: no S3 server installs from the registries here), the daemon's
# run queue and two Celery workers; the demo's runs go through the queue. Everything it starts
# is stopped when it ends (Ctrl-C too); its data stays in $(ASSAY_HOME)/team for the next run.
demo-team: setup
	$(BIN)/python -m assay.orchestration.demo_team

# One pytest worker (pytest-xdist) per CPU (`nproc`: two on the reference machine); `--dist loadfile` keeps each test file on one
# worker, so a file's module fixtures (the loop's home, the crash matrix's homes) are built once.
# Files go out in collection order, which tests/conftest.py sets: the longest files first
# (LONGEST_FILES_FIRST) and the many short unit files after them to fill the gaps (xdist's
# default sends files with the most tests first, which left the crash matrix to run alone at
# the end).
# A single test or file runs as usual: `.venv/bin/pytest -q tests/unit/test_x.py`.
PYTEST_WORKERS ?= $(shell nproc)
# The tests' temporary homes live in memory (/dev/shm, where there is one): each Dagster event is
# an SQLite commit, and on disk every commit waits for an fsync (17 ms of the 23 ms an event
# took here, measured; 0 on tmpfs). The tests kill processes, never the machine, so what they
# check does not depend on fsync. pytest empties this folder when it starts; `make test` removes
# it after a passing run (a failing run's homes stay for a look). TEST_TMP= keeps pytest's default.
TEST_TMP ?= $(shell [ -d /dev/shm ] && [ -w /dev/shm ] && echo /dev/shm/assay-tests-$$(echo '$(CURDIR)' | cksum | cut -d' ' -f1))
PYTEST := $(BIN)/pytest -q -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder \
	$(if $(TEST_TMP),--basetemp=$(TEST_TMP))

# The tests fork most `assay` commands from a launcher that imported the stack once
# (tests/support/launcher.py); `ASSAY_TEST_COLD=1 make test` starts each as a fresh interpreter.
test: setup $(CHROMIUM_STAMP)
	@$(PYTEST) -m "not team_loop"; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; \
	if [ $$status -eq 0 ] && [ -n "$(TEST_TMP)" ]; then rm -rf "$(TEST_TMP)"; fi; \
	exit $$status

# The edit loop: every test but the integration ones (whole Dagster runs, dbt builds, `assay`
# subprocesses over generated homes) and the few unit tests marked slow.
test-fast: setup $(CHROMIUM_STAMP)
	$(PYTEST) -m "not integration and not slow"

# The team stack's whole loop with Celery workers killed mid-step (tests/integration/test_team_loop.py):
# 3-5 minutes on 2 cores (2026-12-08), much of it launching runs. Not in `make test` (the 8-minute
# check of an edit), nor yet in CI: a flake remains (docs/deploy.md, "The team loop and CI's 20
# minutes"). `PYTEST_ADDOPTS=-rP make test-team` prints where its time went.
test-team: setup
	$(PYTEST) -m team_loop

# The demo with its judge in batch mode (behind the local server's Batch API) against sync mode:
# the same decisions (bench/demo_batch.py prints demo_batch_same_decisions=1).
demo-batch: setup
	$(BIN)/python bench/demo_batch.py

ui: setup
	$(BIN)/assay ui

bench: bench-ingest bench-callback bench-judge bench-evaluators

bench-%: setup
	$(BIN)/python bench/$*.py

docs: setup
	$(BIN)/python -m assay.evaluators.catalogue docs/evaluators.md

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .assay dbt_project/target
