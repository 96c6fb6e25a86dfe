#!/usr/bin/env bash
# Install what Tally needs on Debian 12: build tools, libraries, and the npm
# packages of the explorer and the tests (from the committed lock file).
# Idempotent: installs only what is missing. Called by both README commands;
# `--tests` (README command 2) adds what only the tests need: Chromium for
# the explorer's browser test.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PKGS=(build-essential cmake pkg-config clang-format
  libssl-dev libsecp256k1-dev libuv1-dev liblmdb-dev
  libwebsockets-dev libwebsockets-evlib-uv libcjson-dev libinih-dev libcmocka-dev
  nodejs npm python3 python3-websockets curl jq iproute2 iptables libnetfilter-queue-dev)
[[ ${1:-} == --tests ]] && DEB_PKGS+=(chromium)

missing=()
for p in "${DEB_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs/npm may come from outside Debian (e.g. NodeSource); accept any working one.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if ((${#missing[@]})); then
  echo "install: apt-get install ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [[ -f package-lock.json ]]; then
  if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
    echo "install: npm ci"
    npm ci --no-audit --no-fund --loglevel=error
  fi
fi
