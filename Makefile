# The two commands: `make run` serves the portal with demo data, `make test` runs the suite.
# Both create .venv on first use and reinstall only when pyproject.toml changes.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

.PHONY: run test test-embedded test-future lint format typecheck check install migrate seed clean

$(BIN)/python:
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (PY=python3.11 make ...)")'
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools  # venv's own is old (CVEs)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# `make run` is the demo, in both modes: DEBUG is on unless the environment says otherwise
# (a deployment runs its servers itself, with DEBUG off by default: see README, Deploying).
DEMO := DEBUG=$${DEBUG:-1}

migrate: install
	$(DEMO) $(BIN)/python manage.py migrate --noinput

seed: migrate
	$(DEMO) $(BIN)/python manage.py seed_demo

# Serves http://$(HOST):$(PORT): daphne for HTTP and websockets in the embedded mode; with
# REDIS_URL set, the production layout (nginx in front of a gunicorn pool and daphne for /ws/;
# daphne alone, saying so, without nginx) and a Celery worker and beat (mssp/serve.py); on
# PostgreSQL also the intake log's drain (manage.py drain_intake; a thread of daphne in the
# embedded mode). Ctrl-C stops everything it started.
run: seed
	$(DEMO) $(BIN)/python -m mssp.serve

# The suite on TEST_WORKERS processes (pytest-xdist): each claims its own test database and
# Redis db (tests/services.py), so they share nothing but the servers.
TEST_WORKERS ?= 2
test: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# The suite as `make run` serves: SQLite and in-process layers, even where PostgreSQL and
# Redis are running (tests that need them are skipped with their reason).
# Each worker has its own in-memory database.
EMBEDDED_WORKERS ?= $(TEST_WORKERS)
test-embedded: install
	MSSP_TEST_EMBEDDED=1 MSSP_REQUIRE_SERVICES= $(BIN)/python -m pytest -n $(EMBEDDED_WORKERS) $(PYTEST_ARGS)

# The embedded suite with the clock a year ahead (libfaketime, Debian's faketime package):
# proves no test depends on the day it runs. FUTURE='+3 years' moves it further. Wall-clock
# time only: the monotonic clock stays real, or every timed wait would last a year
# (tests/clock_ahead/sitecustomize.py says why, and mends time.sleep for it).
FUTURE ?= +365 days
test-future: install
	@command -v faketime >/dev/null || { echo "faketime is needed: apt-get install faketime"; exit 1; }
	MSSP_TEST_EMBEDDED=1 MSSP_REQUIRE_SERVICES= PYTHONPATH=$(CURDIR)/tests/clock_ahead \
	  FAKETIME_DONT_FAKE_MONOTONIC=1 faketime '$(FUTURE)' \
	  $(BIN)/python -m pytest -n $(EMBEDDED_WORKERS) $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The type checker (mypy with django-stubs): strict over the typed modules, lenient elsewhere
# for now; pyproject.toml's [tool.mypy] says which, and how the typed area widens. The stubs'
# plugin loads mssp.settings: DEBUG=1, or with DATABASE_URL set (CI) it would ask for a secret.
typecheck: install
	DEBUG=1 $(BIN)/mypy

# The types (make typecheck), Django's system checks, production settings included, no missing
# migration, the security lint (ruff's S rules: bandit's checks) and the installed packages
# against known vulnerabilities (pip-audit; says so loudly when its service cannot be reached).
check: install typecheck
	DEBUG=1 $(BIN)/python manage.py check
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run
	DEBUG=0 SECRET_KEY=check-deploy-$$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
	  SECRETS_ENCRYPTION_KEYS=$$($(BIN)/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())') \
	  ALLOWED_HOSTS=portal.example.com $(BIN)/python manage.py check --deploy --fail-level WARNING
	$(BIN)/ruff check --select S .
	$(BIN)/python tools/audit_dependencies.py

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache .mypy_cache
