#!/usr/bin/env bash
# Installs every Debian package patchkit needs (idempotent; root or sudo).
# Called by `make setup`; nothing else should be installed by hand.
# No linux-source-* package: `patchkit tree fetch` (make setup's `tree` step,
# or any command that needs a tree) downloads exactly the version a manifest
# pins, without installing it, and only for the trees a run asks for.
set -euo pipefail
PKGS=(
  git make gcc perl flex bison bc libelf-dev libssl-dev cpio dwarves ccache xz-utils rsync
  qemu-system-x86 busybox-static stress-ng e2fsprogs
  podman runc debootstrap uidmap
  python3-venv
)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-host: all ${#PKGS[@]} Debian packages present"
  exit 0
fi
echo "setup-host: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
