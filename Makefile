# Everything runs in a virtualenv the Makefile creates itself (.venv).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
DOCS_STAMP := $(VENV)/.installed-docs
FUZZ_STAMP := $(VENV)/.installed-fuzz
comma := ,

.PHONY: help install run test test-fast test-pythons check lint typecheck docs conformance bench fuzz dist clean

help:
	@echo "make run          serve the rooms chat; open http://127.0.0.1:8000/?room=lobby&user=ann"
	@echo "make test         unit + integration tests (sets up .venv first), then the other Pythons"
	@echo "make test-fast    the tests once, on .venv's Python, stopping at the first failure"
	@echo "make test-pythons the tests on Python 3.10, 3.11, 3.12 and 3.13, and without the C speedup"
	@echo "make check        ruff + mypy --strict"
	@echo "make docs         build the docs site into site/ (strict: a warning fails)"
	@echo "make conformance  Autobahn testsuite, server and client side"
	@echo "make bench        benchmarks against the peers"
	@echo "make soak         50,000 connections in one room on one worker for 3 min (not in CI)"
	@echo "make fuzz         fuzz handshakes, frames and routing: 1,000,000 inputs (atheris)"
	@echo "make dist         sdist and wheel into dist/ (to pip install elsewhere; docs/install.md)"

# The official AsyncAPI JSON Schema the tests validate generated documents against (npm's
# @asyncapi/specs, pinned by the lock file): needs node and npm.
ASYNCAPI_SPECS := tests/asyncapi_schema/node_modules/@asyncapi/specs/package.json

# The package, editable, with one extra: $(call venv_install,EXTRA) in a stamp's recipe.
define venv_install
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(1)]'
	touch $@
endef

$(STAMP): pyproject.toml
	$(call venv_install,dev)

$(ASYNCAPI_SPECS): tests/asyncapi_schema/package-lock.json
	npm ci --prefix tests/asyncapi_schema --ignore-scripts --no-audit --no-fund
	touch $(ASYNCAPI_SPECS)

install: $(STAMP) $(ASYNCAPI_SPECS)

# The demo needs only the package and pydantic (its typed messages), not the dev toolchain.
$(RUN_STAMP): pyproject.toml
	$(call venv_install,typed)

run: $(RUN_STAMP)
	@echo "chat: open http://127.0.0.1:8000/?room=lobby&user=ann in a browser (another user: &user=bob)"
	$(PY) -m wsframework run apps.chat.app:app --port 8000

# The main run (with coverage) on .venv's Python, then the other Pythons pyproject.toml claims
# and the build without the speedup (every nox session but the one of .venv's own Python).
OTHER_SESSIONS = $(VENV)/bin/nox -l --json | $(PY) -c 'import json, sys; \
	own = "tests-%d.%d" % sys.version_info[:2]; \
	print(" ".join(s["session"] for s in json.load(sys.stdin) if s["session"] != own))'

test: $(STAMP) $(ASYNCAPI_SPECS)
	$(PY) -m pytest -q --cov=wsframework --cov-report=term:skip-covered --cov-fail-under=85
	$(VENV)/bin/nox -s $$($(OTHER_SESSIONS))

# noxfile.py: the suite on each of 3.10-3.13 (on PATH or pyenv's; none is downloaded), each in
# a fresh virtualenv (.nox/) with the package editable and its dev extra from the package index
# and the C speedup compiled for it, then on 3.13 without it (WSFRAMEWORK_NO_EXTENSIONS=1).
# One version: .venv/bin/nox -s tests-3.12 (pytest's arguments after --).
test-pythons: $(STAMP) $(ASYNCAPI_SPECS)
	$(VENV)/bin/nox

test-fast: $(STAMP) $(ASYNCAPI_SPECS)
	$(PY) -m pytest -q -x

check: lint typecheck

lint: $(STAMP)
	$(VENV)/bin/ruff check wsframework tests apps benchmarks conformance fuzz noxfile.py
	$(VENV)/bin/ruff format --check wsframework

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The package with the docs toolchain (its own stamp, like the run's: `make run` stays small).
$(DOCS_STAMP): pyproject.toml
	$(call venv_install,docs)

# Not --quiet: it hides the warnings from --strict too, and the build would pass.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

conformance: $(STAMP)
	bash conformance/run.sh

bench: $(STAMP)
	$(PY) benchmarks/run.py

# A normal client's handshake latency under 1,000 slowloris sockets and 1,000 idle connections
# (benchmarks/slowloris.py; not part of CI).
.PHONY: slowloris
slowloris: $(STAMP)
	$(PY) benchmarks/slowloris.py

# 50,000 connections on one worker process, one room, 3 minutes of echoes, one broadcast, all
# closed: RSS per connection and its curve, broadcast time, handshake p99, tasks and fds before
# and after (benchmarks/soak.py; not part of CI). SOAK_ARGS adds flags: SOAK_ARGS="--minutes 10".
# soak-hypercorn: the shorter comparison run under Hypercorn.
SOAK_ARGS ?=
.PHONY: soak soak-hypercorn
soak: $(STAMP)
	$(PY) benchmarks/soak.py --runner wsframework --connections 50000 --minutes 3 $(SOAK_ARGS)

soak-hypercorn: $(STAMP)
	$(PY) benchmarks/soak.py --runner hypercorn --connections 10000 --minutes 1 $(SOAK_ARGS)

# The dev toolchain plus atheris (the `fuzz` extra). Not in CI: `make test` has a short run.
$(FUZZ_STAMP): pyproject.toml
	$(call venv_install,dev$(comma)fuzz)

fuzz: $(FUZZ_STAMP)
	$(PY) -m fuzz.run

# The sdist, and a wheel built from it. The wheel carries the C speedup compiled for this Python
# and platform; WSFRAMEWORK_NO_EXTENSIONS=1 make dist builds a pure-Python one for any.
dist: $(STAMP)
	rm -rf dist
	$(PY) -m build --quiet --outdir dist .
	@ls dist

clean:
	rm -rf $(VENV) .venv27 .nox site conformance/reports benchmarks/results .coverage .fuzz dist build tests/asyncapi_schema/node_modules
