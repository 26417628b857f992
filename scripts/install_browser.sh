#!/usr/bin/env bash
# Install Debian's headless Chromium for the browser tests (tests/browser/).
#
# Idempotent and quiet. It never downloads Playwright's own browser build: the tests
# drive /usr/bin/chromium through Playwright's Python package (executable_path).
# Always exits 0: where Chromium cannot be installed (no root, no apt, no network)
# it says why, and the browser tests skip with a clear message instead of failing.
set -u

CHROMIUM=${REUCID_CHROMIUM:-/usr/bin/chromium}

if [ -x "$CHROMIUM" ]; then
  exit 0
fi

say() { echo "install_browser.sh: $*" >&2; }

if ! command -v apt-get >/dev/null 2>&1; then
  say "apt-get not found; cannot install Chromium, browser tests will be skipped."
  exit 0
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    say "not root and no password-less sudo; cannot install Chromium, browser tests will be skipped."
    exit 0
  fi
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! $SUDO apt-get update -qq >"$log" 2>&1; then
  say "apt-get update failed (last lines below); trying the install with the cached lists."
  tail -n 3 "$log" >&2
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >"$log" 2>&1; then
  say "apt-get install chromium failed (last lines below); browser tests will be skipped."
  tail -n 5 "$log" >&2
  rm -f "$log"
  exit 0
fi
rm -f "$log"

if [ -x "$CHROMIUM" ]; then
  say "installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)."
else
  say "apt reported success but $CHROMIUM is missing; browser tests will be skipped."
fi
exit 0
