# platform-ops: `make demo` then `make test`. Everything installs from the pinned locks.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := $(CURDIR)/.venv
UV := $(CURDIR)/.tools/venv/bin/uv
LOCK_PY := 3.11
# pytest-xdist workers (one per core); the stack's tests stay together on one of them
TEST_WORKERS ?= 2

export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export PLATFORM_OPS_DBT_EXECUTABLE ?= $(CURDIR)/.venv-dbt/bin/dbt
export PYTHONPATH := $(CURDIR)/plugins
export UV_COMPILE_BYTECODE := 1

.PHONY: help bootstrap demo test test-fast lint lock clean clean-all airflow airflow-stop stack stack-stop bench

help:
	@echo "make demo        create the environments, run every local DAG end to end, print a summary"
	@echo "make test        ruff, the import contract, mypy and the whole pytest suite (integration included),"
	@echo "                 on two pytest-xdist workers (TEST_WORKERS); CI runs this"
	@echo "make test-fast   the same without tests/stack (the production-shaped stack); a local loop only"
	@echo "make airflow     airflow standalone on http://127.0.0.1:8080 (stop: Ctrl-C or make airflow-stop)"
	@echo "make stack       the production-shaped stack: PostgreSQL, Redis, S3 (moto), CeleryExecutor with two"
	@echo "                 workers, scheduler, dag-processor, triggerer (stop: Ctrl-C or make stack-stop)"
	@echo "make bench       run the benchmarks in benchmarks/"
	@echo "make lock        recompile the pinned locks from requirements*.txt and envs/dbt"
	@echo "make clean       remove run artifacts (.airflow, dbt target); clean-all also removes the environments"

bootstrap:
	@PYTHON=$(PYTHON) scripts/bootstrap.sh

lint: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup

test-fast: lint
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup --ignore=tests/stack

demo: bootstrap
	$(VENV)/bin/python scripts/demo.py

bench: bootstrap
	@PYTHON=$(PYTHON) scripts/bootstrap.sh --bench
	@for b in benchmarks/[!_]*.py; do echo "== $$b"; $(CURDIR)/.venv-bench/bin/python $$b || exit 1; done

lock:
	@PYTHON=$(PYTHON) scripts/bootstrap.sh --tools-only
	$(UV) pip compile -q --python-version $(LOCK_PY) requirements.txt -o requirements.lock
	$(UV) pip compile -q --python-version $(LOCK_PY) requirements.txt requirements-dev.txt \
		-c requirements.lock -o requirements-dev.lock
	$(UV) pip compile -q --python-version $(LOCK_PY) requirements.txt requirements-dev.txt \
		benchmarks/requirements.txt -c requirements-dev.lock -o benchmarks/requirements.lock
	$(UV) pip compile -q --python-version $(LOCK_PY) --excludes envs/dbt/excludes.txt \
		envs/dbt/requirements.txt -o envs/dbt/requirements.lock
	$(UV) pip compile -q --python-version $(LOCK_PY) envs/bqemulator/requirements.txt \
		-o envs/bqemulator/requirements.lock
	$(UV) pip compile -q --python-version $(LOCK_PY) envs/minilake/requirements.txt \
		-o envs/minilake/requirements.lock
	@echo "locks written; the next make demo/test re-syncs what changed"

airflow: bootstrap
	@$(VENV)/bin/python scripts/airflow_standalone.py start

airflow-stop:
	@$(VENV)/bin/python scripts/airflow_standalone.py stop

stack: bootstrap
	@$(VENV)/bin/python scripts/airflow_stack.py start

stack-stop:
	@$(VENV)/bin/python scripts/airflow_stack.py stop

clean:
	rm -rf .airflow include/dbt/target include/dbt/logs include/dbt/dbt_packages benchmarks/.work \
		.pytest_cache .ruff_cache .mypy_cache .hypothesis

clean-all: clean
	rm -rf .venv .venv-dbt .venv-bqemulator .venv-minilake .venv-bench .tools
