#!/usr/bin/env bash
# Checks Cargo.lock against a local checkout of the RustSec advisory database
# (a clone of rustsec/advisory-db; nothing is downloaded). Advisories that do not reach
# this service are listed, each with its reason, in .cargo/audit.toml.
#
#   scripts/audit.sh PATH            or   ADVISORY_DB=PATH scripts/audit.sh
#
# Exits non-zero when an advisory applies; unmaintained crates are reported as warnings.
set -euo pipefail
cd "$(dirname "$0")/.."

db="${1:-${ADVISORY_DB:-}}"
if [ -z "$db" ]; then
  echo "usage: scripts/audit.sh PATH-TO-ADVISORY-DB (or set ADVISORY_DB)" >&2
  exit 2
fi
if [ ! -d "$db/crates" ]; then
  echo "$db is not a checkout of the RustSec advisory database (it has no crates/ folder)" >&2
  exit 2
fi
if ! cargo audit --version >/dev/null 2>&1; then
  cargo install cargo-audit --locked
fi
echo "dependency audit against $db ($(git -C "$db" log -1 --format='%h %cs' 2>/dev/null || echo 'not a git checkout'))"
exec cargo audit --db "$db" --no-fetch --file Cargo.lock
