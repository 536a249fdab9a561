#!/usr/bin/env bash
# make setup: everything vsb needs on a Debian 12 machine, installed only where missing.
# Safe to run again and again: npm runs only when node_modules is missing or older than the
# lock file, apt only when a package is not installed (and only as root).
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  rabbitmq-server python3-gi python3-qpid-proton gir1.2-gst-rtsp-server-1.0 gstreamer1.0-nice gir1.2-gst-plugins-bad-1.0 chromium iproute2 curl postgresql haproxy
)

say() { printf 'setup: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }

npm_deps() {
  command -v npm >/dev/null || fail "npm is missing: install Node.js and npm (apt-get install nodejs npm), then run make setup again"
  local stamp=node_modules/.package-lock.json
  if [[ -f $stamp && $stamp -nt package-lock.json && $stamp -nt package.json ]]; then
    say "npm packages up to date"
    return
  fi
  if [[ -f package-lock.json ]]; then
    say "installing npm packages (npm ci)"
    npm ci --no-audit --no-fund
  else
    say "no package-lock.json: installing npm packages (npm install)"
    npm install --no-audit --no-fund
  fi
}

check_runtimes() {
  local bun deno
  bun=$(node_modules/.bin/bun --version 2>&1) || fail "node_modules/.bin/bun does not run: $bun (delete node_modules and run make setup)"
  deno=$(node_modules/.bin/deno --version 2>&1 | head -n1) || fail "node_modules/.bin/deno does not run: $deno (delete node_modules and run make setup)"
  say "bun $bun, $deno"
}

missing_packages() {
  local pkg
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
      printf '%s\n' "$pkg"
    fi
  done
}

debian_packages() {
  command -v dpkg-query >/dev/null || fail "dpkg-query is missing: vsb is set up on Debian 12; install these by hand: ${DEBIAN_PACKAGES[*]}"
  local missing
  mapfile -t missing < <(missing_packages)
  if [[ ${#missing[@]} -eq 0 ]]; then
    say "Debian packages present"
    return
  fi
  if [[ $(id -u) -ne 0 ]]; then
    fail "missing Debian packages: ${missing[*]}
setup: run as root (sudo make setup), or: sudo apt-get install -y ${missing[*]}"
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Keep package scripts from starting services (the rabbitmq-server package would start a
  # broker on the default ports): tests and the demo start their own on free ports.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created_policy=1
  fi
  local status=0
  { apt-get update -q && apt-get install -y -q "${missing[@]}"; } || status=$?
  [[ $created_policy -eq 1 ]] && rm -f "$policy"
  [[ $status -eq 0 ]] || fail "apt-get install failed for: ${missing[*]}"
  stop_packaged_rabbitmq
}

# Stop a broker the package may have started anyway (systemd or an init script), so
# nothing listens on 5672/1883 behind the tests' backs.
stop_packaged_rabbitmq() {
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
    systemctl disable --now rabbitmq-server >/dev/null 2>&1 || true
  elif command -v service >/dev/null; then
    service rabbitmq-server stop >/dev/null 2>&1 || true
  fi
}

check_tools() {
  local tool
  for tool in gst-launch-1.0 gst-inspect-1.0 epmd curl; do
    command -v "$tool" >/dev/null || fail "\"$tool\" is not on PATH after setup"
  done
  ls /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmq-server >/dev/null 2>&1 ||
    fail "RabbitMQ's server script is missing under /usr/lib/rabbitmq/lib (package rabbitmq-server)"
  say "GStreamer $(gst-launch-1.0 --version | sed -n 's/.*version //p' | head -n1), $(ls -d /usr/lib/rabbitmq/lib/rabbitmq_server-* | sed 's/.*rabbitmq_server-/RabbitMQ /' | tail -n1)"
}

npm_deps
check_runtimes
debian_packages
check_tools
say "ready"
