#!/usr/bin/env bash
# Make sure Debian's Chromium and ChromeDriver exist for the dashboard's browser tests
# (tests/functional/dashboard); install them when we can. The tests drive /usr/bin/chromium
# through Playwright and never download a browser of their own.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Chromium not found: installing it with apt-get (chromium chromium-driver)..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  exit 0
fi
echo "Chromium (for the dashboard's browser tests) not found. Install it:" >&2
echo "  Debian/Ubuntu: sudo apt-get install chromium chromium-driver" >&2
exit 1
