#!/usr/bin/env bash
# Make sure PostgreSQL's server binaries (initdb, pg_ctl) exist; install them when we can.
# The local stack finds them on the PATH or under /usr/lib/postgresql/*/bin.
set -euo pipefail
if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "PostgreSQL server not found: installing it with apt-get (postgresql)..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  exit 0
fi
echo "PostgreSQL server binaries (initdb, pg_ctl) not found. Install PostgreSQL 15:" >&2
echo "  Debian/Ubuntu: sudo apt-get install postgresql    macOS: brew install postgresql@15" >&2
exit 1
