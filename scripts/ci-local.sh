#!/usr/bin/env bash
# make ci-local: the reduced matrix (matrix.toml [subsets.reduced]: the bare 6.12
# tree and the series on it, each built once and booted by two test cells, and
# the merge) run twice on this machine:
#   1. by `patchkit matrix run --subset reduced` (what make matrix SUBSET=reduced does);
#   2. through gitlab-ci-local, a real runner of .gitlab-ci.yml, on its shell
#      executor with one isolated copy of the repository per job, so kernels
#      reach the test jobs only as GitLab artifacts of the build jobs;
# then `patchkit report compare` checks that both merged reports (results.json,
# junit.xml, summary.md, kcidb.json) agree on every cell, stage and test status,
# on the kernel (commit, config hash) of each and on the KCIDB ids and links.
#
# STEPS (default "matrix pipeline compare") runs some of the three: e.g.
# STEPS="pipeline compare" keeps an earlier matrix run's results.  AUTHOR
# (default: git config user.name and user.email) signs the rendered commits in
# both runs, so both build the same series commits.
#
# Both runs use this machine's patchkit cache (PATCHKIT_CACHE, default
# ~/.cache/patchkit: the pinned tree and ccache), as a self-hosted shell runner
# would, and the same build runtime (RUNTIME, default auto): the pipeline's
# build jobs find the kernels the first run built and reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."

# gitlab-ci-local 4.60.0 runs on Node 18 (Debian 12's nodejs) and 20; later
# releases need Node 22 (Set.prototype.union).
GCL_VERSION=4.60.0
CACHE=${PATCHKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/patchkit}
TOOLS=$CACHE/tools/gitlab-ci-local-$GCL_VERSION
GCL=$TOOLS/node_modules/.bin/gitlab-ci-local
OUT=results/ci-local
PK=.venv/bin/patchkit
RUNTIME=${RUNTIME:-auto}
SUBSET=${SUBSET:-reduced}
STEPS=${STEPS:-matrix pipeline compare}
AUTHOR=${AUTHOR:-"$(git config user.name) <$(git config user.email)>"}
step() { [[ " $STEPS " == *" $1 "* ]]; }

if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  echo "ci-local: installing Debian's nodejs and npm"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
if [ ! -x "$GCL" ]; then
  echo "ci-local: installing gitlab-ci-local $GCL_VERSION into $TOOLS"
  mkdir -p "$TOOLS"
  npm install --prefix "$TOOLS" --no-audit --no-fund "gitlab-ci-local@$GCL_VERSION" >/dev/null
fi
"$GCL" --version >/dev/null

# gitlab-ci-local copies tracked files only into each job's directory
if [ -n "$(git status --porcelain --untracked-files=all -- patchkit matrix.toml scripts Makefile pyproject.toml)" ]; then
  echo "ci-local: W: uncommitted changes: jobs see tracked files as they are on disk, new files only once added" >&2
fi

mkdir -p "$OUT"

if step matrix; then
  echo "ci-local: 1/3 patchkit matrix run --subset $SUBSET"
  rm -rf "$OUT/matrix"
  start=$(date +%s)
  "$PK" matrix run --subset "$SUBSET" --runtime "$RUNTIME" --author "$AUTHOR" -o "$OUT/matrix" \
    > "$OUT/matrix.log" 2>&1 || echo "ci-local: the matrix run failed (its report is compared all the same)"
  echo "ci-local: matrix run took $(( $(date +%s) - start )) s, log $OUT/matrix.log"
fi

if step pipeline; then
  echo "ci-local: 2/3 the same cells through gitlab-ci-local $GCL_VERSION"
  rm -rf "$OUT/gitlab"
  "$PK" ci gitlab --subset "$SUBSET" -o "$OUT/gitlab-ci.yml"
  VARS=(--variable "PATCHKIT_CACHE=$CACHE" --variable "PATCHKIT_RUNTIME=$RUNTIME"
        --variable "GITLAB_USER_NAME=${AUTHOR% <*}"
        --variable "GITLAB_USER_EMAIL=$(sed 's/.*<\(.*\)>.*/\1/' <<<"$AUTHOR")")
  start=$(date +%s)
  rc=0
  "$GCL" --file "$OUT/gitlab-ci.yml" --state-dir "$OUT/gitlab" --force-shell-executor --shell-isolation \
    --no-artifacts-to-source --concurrency 2 --timestamps "${VARS[@]}" > "$OUT/gitlab.log" 2>&1 || rc=$?
  echo "ci-local: pipeline took $(( $(date +%s) - start )) s (exit $rc), log $OUT/gitlab.log"
  tail -n 16 "$OUT/gitlab.log"
fi

if step compare; then
  echo "ci-local: 3/3 compare the merged reports (results.json, junit.xml, summary.md, kcidb.json)"
  CI_MERGED=$OUT/gitlab/artifacts/merge/results/merged/results.json
  "$PK" report compare "$OUT/matrix/merged/results.json" "$CI_MERGED"
  echo "ci-local: same outcome through the CI runner and make matrix ($OUT/matrix/merged, $CI_MERGED)"
fi
