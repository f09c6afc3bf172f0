# The two commands a newcomer needs: `make demo` (the whole system once, end to end) and
# `make test`. Everything else is for people working on orderbridge.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test chaos bench lint up down

$(STAMP): requirements.txt requirements-sandbox.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

install: $(STAMP)

demo: install
	$(PY) scripts/demo.py

# Two test processes (pytest-xdist), a file per process at a time: most tests wait on servers (PostgreSQL,
# the sandbox, Airflow subprocesses); on 2 cores the suite took 603 s this way, 1,061 s in one. Each starts its own
# PostgreSQL cluster and AIRFLOW_HOME (tests/conftest.py) and every server binds a free port.
test: install
	$(PY) -m pytest -q -n 2 --dist loadfile

# Faults, crashes and bad input, full form: prints the table and writes chaos/results.md.
chaos: install
	$(PY) scripts/chaos.py

# Staging load vs COPY vs dlt, rerun writes, memory, DAG parse: prints the table and writes
# bench/results.md and bench/orders_per_second.png (bench/README.md). Several minutes.
BENCH_STAMP := $(VENV)/.bench-installed-stamp
DLT_VENV    := .venv-bench-dlt
DLT_STAMP   := $(DLT_VENV)/.installed-stamp

$(BENCH_STAMP): $(STAMP) requirements-bench.txt constraints.txt
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-bench.txt -c constraints.txt
	touch $@

# dlt (the reference a data engineer would pick) cannot share .venv with the pinned Airflow stack:
# it upgrades setuptools. It gets a venv of its own, fully pinned.
$(DLT_STAMP): requirements-bench-dlt.txt
	test -x $(DLT_VENV)/bin/python || python3 -m venv $(DLT_VENV)
	$(DLT_VENV)/bin/pip install -q --disable-pip-version-check -r requirements-bench-dlt.txt
	touch $@

bench: $(BENCH_STAMP) $(DLT_STAMP)
	scripts/pg.sh up
	$(PY) bench/run.py $(BENCH_ARGS)

lint: install
	$(VENV)/bin/ruff check include dags tests bench

# EXECUTOR=celery: the CeleryExecutor with a local redis-server and two workers (scripts/airflow.sh).
up: install
	EXECUTOR="$(EXECUTOR)" scripts/airflow.sh up

down:
	-scripts/airflow.sh down
	scripts/pg.sh down
