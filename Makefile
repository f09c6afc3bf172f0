# The two commands a newcomer needs: `make demo` (the whole system once, end to end) and
# `make test`. Everything else is for people working on orderbridge.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint up down

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

install: $(STAMP)

demo: install
	$(PY) scripts/demo.py

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check include dags tests

up: install
	scripts/airflow.sh up

down:
	-scripts/airflow.sh down
	scripts/pg.sh down
