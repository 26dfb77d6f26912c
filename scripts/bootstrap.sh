#!/usr/bin/env bash
# Install everything hulian and its test suite need on a Debian machine: system packages (CJK
# fonts for PDF reports, graphviz, poppler, Chromium, Redis, PostgreSQL, nginx for the lab
# benchmarks, iproute2 for the DNS-rebinding lab's network namespaces, openssl for the test
# time-stamping authority), a virtualenv with the Python dependencies, and .venv-pywb (pywb
# replays exported WACZ packages in tests/test_wacz.py; it pins libraries older than
# hulian's, so it gets a virtualenv of its own), and .wacz-verifier (ReplayWeb.page's WACZ
# signature verifier, built with Node's npm by scripts/wacz-verifier.sh), and .site-vendor
# (ReplayWeb.page's viewer for the static site's replayable evidence and axe-core for its
# accessibility test, fetched with npm by scripts/site-vendor.sh). Idempotent: re-running
# installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(fonts-noto-cjk fontconfig graphviz poppler-utils chromium redis-server postgresql
              nginx iproute2 openssl python3.11 python3.11-venv nodejs)
PYWB_VERSION=2.10.0
PYTHON=${PYTHON:-python3.11}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Debian's npm conflicts with a nodejs that bundles its own (NodeSource's): ask for it only
# when there is no npm at all.
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "bootstrap: installing Debian packages: ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then SUDO=sudo; else
      echo "bootstrap: not root and no sudo; install these packages yourself: ${missing[*]}" >&2
      exit 1
    fi
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The distribution's services are not needed running: tests start their own instances.
  for svc in redis-server postgresql nginx; do
    $SUDO service "$svc" stop >/dev/null 2>&1 || true
  done
fi

if ! command -v "$PYTHON" >/dev/null; then
  echo "bootstrap: $PYTHON not found; hulian needs Python 3.11" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $PYTHON" >&2
  "$PYTHON" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
echo "bootstrap: installing Python dependencies into .venv" >&2
.venv/bin/pip install -q -e ".[test,bench,browser,postgres,distributed,schedule]"
if [ ! -x .venv-pywb/bin/wb-manager ]; then
  echo "bootstrap: creating .venv-pywb with pywb $PYWB_VERSION" >&2
  "$PYTHON" -m venv .venv-pywb
  .venv-pywb/bin/pip install -q --upgrade pip
  .venv-pywb/bin/pip install -q "pywb==$PYWB_VERSION"
fi
bash scripts/wacz-verifier.sh
bash scripts/site-vendor.sh
echo "bootstrap: done" >&2
