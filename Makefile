# Warden: `make demo` to try it, `make test` to prove it. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export DJANGO_SETTINGS_MODULE ?= config.settings.local

.PHONY: help venv services services-fast stop migrate seed demo test test-fast chromium gettext lint bench clean messages

help:
	@echo "make demo      set everything up and serve web + worker + beat on http://localhost:8000/"
	@echo "make test      set everything up and run the whole test suite"
	@echo "make services  start the project-local PostgreSQL and Redis (background)"
	@echo "make stop      stop them"

$(STAMP): requirements/base.txt requirements/test.txt requirements/local.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { echo "make: could not create $(VENV); on Debian/Ubuntu: apt-get install python3-venv"; exit 1; }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/local.txt
	@touch $(STAMP)

venv: $(STAMP)

services:
	@scripts/services.sh start

# The tests' PostgreSQL trades durability for speed (fsync off); demo and bench never do.
services-fast:
	@scripts/services.sh start --fast

stop:
	@scripts/services.sh stop

migrate: venv services
	$(PY) manage.py migrate_schemas --noinput -v 0
	$(PY) manage.py sync_periodic_tasks

seed: migrate
	$(PY) manage.py seed_demo

demo: seed
	@scripts/demo.sh

chromium:
	@scripts/chromium.sh

gettext:
	@scripts/gettext.sh

# The suite runs on every core (pytest-xdist); each worker has its own test database.
PYTEST_WORKERS ?= auto

test: venv services-fast chromium gettext
	$(VENV)/bin/lint-imports --no-cache
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test-fast: venv services-fast gettext
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) -m pytest -n $(PYTEST_WORKERS) -m "not browser and not slow" $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check apps config tests bench warden_agent
	$(VENV)/bin/lint-imports --no-cache

messages: venv gettext
	$(PY) manage.py compilemessages -l pl --ignore=.venv

bench: venv services
	@echo "see bench/README.md"

clean: stop
	rm -rf .run
