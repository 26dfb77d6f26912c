#!/usr/bin/env bash
# Vendor the static site's third-party browser code into .site-vendor/ (ignored by git) at
# INSTALL time, never during a test or a build:
#   .site-vendor/replaywebpage/  ui.js, sw.js, LICENSE, VERSION — ReplayWeb.page's embeddable
#                                viewer, which `hulian site build` copies into the site's
#                                replay/ so a finding's recorded exchange replays from the
#                                run's WACZ (AGPL-3.0-or-later: its licence goes with it);
#   .site-vendor/axe-core/       axe.min.js, LICENSE, VERSION — the accessibility engine that
#                                tests/test_site_replay.py injects into each page type
#                                (MPL-2.0; not copied into the site).
# npm fetches the pinned tarballs (`npm pack`: the package alone, none of its dependency tree;
# both ship their browser bundles prebuilt). Idempotent: a directory whose VERSION matches is
# kept.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=.site-vendor
REPLAYWEBPAGE_VERSION=2.5.3
AXE_VERSION=4.14.1

if ! command -v npm >/dev/null; then
  echo "site-vendor: npm is needed (Debian: npm)" >&2
  exit 1
fi

# vendor NAME VERSION FILE... : the files from the package tarball's package/ directory.
vendor() {
  local name=$1 version=$2
  shift 2
  local dir="$OUT/$name"
  if [ -f "$dir/VERSION" ] && [ "$(cat "$dir/VERSION")" = "$version" ]; then
    return 0
  fi
  local work
  work=$(mktemp -d)
  echo "site-vendor: fetching $name@$version" >&2
  (cd "$work" && npm pack --silent "$name@$version" >/dev/null && tar xzf ./*.tgz)
  rm -rf "$dir.new"
  mkdir -p "$dir.new"
  for file in "$@" LICENSE; do
    cp "$work/package/$file" "$dir.new/$file"
  done
  echo "$version" > "$dir.new/VERSION"
  rm -rf "$dir" "$work"
  mv "$dir.new" "$dir"
}

mkdir -p "$OUT"
vendor replaywebpage "$REPLAYWEBPAGE_VERSION" ui.js sw.js
vendor axe-core "$AXE_VERSION" axe.min.js
echo "site-vendor: $OUT (replaywebpage $REPLAYWEBPAGE_VERSION, axe-core $AXE_VERSION)" >&2
