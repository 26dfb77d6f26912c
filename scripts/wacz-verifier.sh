#!/usr/bin/env bash
# Build ReplayWeb.page's WACZ signature verifier (wabac.js's verifyWACZSignature, the code that
# checks a WACZ's signedData in the browser) into .wacz-verifier/verifier.mjs, so that
# tests/test_wacz.py checks hulian's WACZ signatures with the field's own verifier rather than
# hulian's reading of the specification. Nothing of it is committed: npm fetches the pinned
# packages at install time (never during a test), esbuild bundles the TypeScript source for
# Node's WebCrypto. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=.wacz-verifier
WABAC_VERSION=2.27.3
[ -f "$OUT/verifier.mjs" ] && exit 0
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  echo "wacz-verifier: node and npm are needed (Debian: nodejs npm)" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "wacz-verifier: building wabac.js $WABAC_VERSION's verifyWACZSignature" >&2
(
  cd "$work"
  # Only the source of wabac.js: its own dependency tree is a browser's, far larger than the
  # verifier needs.
  npm pack --silent "@webrecorder/wabac@$WABAC_VERSION" >/dev/null
  tar xzf "webrecorder-wabac-$WABAC_VERSION.tgz"
  npm init -y >/dev/null
  npm install --silent --no-audit --no-fund "@peculiar/x509@2.2.0" "base64-js@1.5.1" \
    "http-status-codes@2.3.0" "reflect-metadata@0.2.2" "esbuild@0.28.2" >/dev/null
  printf '%s\n' 'import "reflect-metadata";' \
    'export { verifyWACZSignature } from "./package/src/wacz/certutils";' > entry.ts
  ./node_modules/.bin/esbuild entry.ts --bundle --platform=node --format=esm \
    --log-level=warning --outfile=verifier.mjs
)
mkdir -p "$OUT"
mv "$work/verifier.mjs" "$OUT/verifier.mjs"
echo "wacz-verifier: $OUT/verifier.mjs" >&2
