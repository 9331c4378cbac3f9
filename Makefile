# Everything runs in a virtualenv the Makefile creates itself (.venv).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: help install run test test-fast check lint typecheck docs conformance bench clean

help:
	@echo "make run          serve the rooms chat; open http://127.0.0.1:8000/?room=lobby&user=ann"
	@echo "make test         unit + integration tests (sets up .venv first)"
	@echo "make check        ruff + mypy --strict"
	@echo "make docs         build the docs site into site/ (strict: a warning fails)"
	@echo "make conformance  Autobahn testsuite, server and client side"
	@echo "make bench        benchmarks against the peers"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The demo needs only the package and pydantic (its typed messages), not the dev toolchain.
$(RUN_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[typed]'
	touch $(RUN_STAMP)

run: $(RUN_STAMP)
	@echo "chat: open http://127.0.0.1:8000/?room=lobby&user=ann in a browser (another user: &user=bob)"
	$(PY) -m wsframework run apps.chat.app:app --port 8000

test: $(STAMP)
	$(PY) -m pytest -q --cov=wsframework --cov-report=term:skip-covered --cov-fail-under=85

test-fast: $(STAMP)
	$(PY) -m pytest -q -x

check: lint typecheck

lint: $(STAMP)
	$(VENV)/bin/ruff check wsframework tests apps benchmarks conformance
	$(VENV)/bin/ruff format --check wsframework

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The package with the docs toolchain (its own stamp, like the run's: `make run` stays small).
$(DOCS_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[docs]'
	touch $(DOCS_STAMP)

# Not --quiet: it hides the warnings from --strict too, and the build would pass.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

conformance: $(STAMP)
	bash conformance/run.sh

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .venv27 site conformance/reports benchmarks/results .coverage
