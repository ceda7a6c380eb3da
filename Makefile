# patchkit: every target installs what it needs first (make setup is idempotent).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PK     := $(VENV)/bin/patchkit
PYTEST := $(VENV)/bin/pytest
SERIES ?= zram-swap-ops

.PHONY: setup host venv test test-unit test-integration test-slow validate validate-bare matrix bench clean

setup: host venv

host:
	scripts/setup-host.sh

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

# The README's test command: unit tests, integration tests on the pinned tree,
# and a real build + boot + swap test of the default series.
test: setup
	$(PYTEST) -ra tests

test-unit: venv
	$(PYTEST) -ra -m "not integration and not slow" tests

# The main job: validate the default series on the pinned tree.
validate: setup
	$(PK) validate --series $(SERIES)

validate-bare: setup
	$(PK) validate --series none

# A/B/C performance: baseline, base layer, series (ROUNDS interleaved rounds).
ROUNDS ?= 5
bench: setup
	$(PK) bench --rounds $(ROUNDS)

clean:
	rm -rf $(VENV) .pytest_cache
