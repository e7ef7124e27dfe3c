#!/usr/bin/env bash
# chromium.sh — installs Debian's chromium for the console's browser test
# (internal/node TestConsoleInBrowser, driven through chromedp), as root,
# when it is missing. Under CI=true that test fails without it.
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium.sh: chromium is missing; install it: sudo apt-get install -y chromium" >&2
  exit 1
fi
echo "chromium.sh: installing chromium from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 ||
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
