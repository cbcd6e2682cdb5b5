#!/usr/bin/env bash
# Runs every test: Rust unit and integration tests (real Redis, real OpenID Provider, real
# nginx and Caddy, headless Chromium), then the container and Helm chart checks (with the
# dashboard and alerts against a real Prometheus), the container image built and run, and a
# smoke run of the benchmark. Installs what a fresh machine lacks.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests run: Redis, the reverse proxies of examples/ (nginx, Caddy),
# Python 3 (its stdlib WSGI server is the header-collapsing app behind them) and a headless
# browser (Chromium and its WebDriver).
missing=()
for tool in redis-server:redis-server nginx:nginx caddy:caddy python3:python3 chromium:chromium chromedriver:chromium-driver; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "missing: install them first (apt-get install ${missing[*]})" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v node >/dev/null || { echo "missing node (Node.js 20+): needed for the test OpenID Provider" >&2; exit 1; }
if [ ! -d tests/provider/node_modules/oidc-provider ]; then
  npm ci --prefix tests/provider --no-audit --no-fund --loglevel=error
fi

# The import graph of src/ against the layers of docs/DESIGN.md (no import up a layer, no
# two files importing each other).
python3 scripts/layers.py

# The dependency audit needs a local checkout of the RustSec advisory database, which this
# script cannot download: it runs when one is there and says so when not.
advisory_db="${ADVISORY_DB:-$HOME/.cargo/advisory-db}"
if [ -d "$advisory_db/crates" ]; then
  scripts/audit.sh "$advisory_db"
else
  echo "dependency audit skipped: no advisory database at $advisory_db (set ADVISORY_DB to a checkout of rustsec/advisory-db)"
fi

# Built first, then run under a deadline: a test that hangs fails the run with its name
# (libtest names every test still running after 60 s) instead of stalling CI. The suite takes
# about 5 minutes on 2 cores; TEST_TIMEOUT overrides the deadline.
cargo test --locked --all-targets --no-run
timeout --kill-after=30s "${TEST_TIMEOUT:-30m}" cargo test --locked --all-targets || {
  status=$?
  [ $status -ne 124 ] || echo "the tests did not finish within ${TEST_TIMEOUT:-30m}: a test hangs (see the names above)" >&2
  exit $status
}
if [ -x .ci/deploy-checks ] && [ "${SKIP_DEPLOY_CHECKS:-}" != 1 ]; then
  .ci/deploy-checks
fi
# The container image, built without Docker as the Dockerfile builds it, and run
# (scripts/image.sh; its musl release build is kept in ${CARGO_TARGET_DIR:-target}/image,
# about 11 minutes the first time on 2 cores). SKIP_IMAGE=1 skips it.
if [ "${SKIP_IMAGE:-}" != 1 ]; then
  scripts/image.sh
fi
# The benchmark (issue #7) must keep working: every step once, with tiny durations and the
# debug binary just built (its numbers mean nothing; nothing is written in the repository).
if [ "${SKIP_BENCH_SMOKE:-}" != 1 ]; then
  scripts/bench/run.sh --smoke --bin "${CARGO_TARGET_DIR:-target}/debug/oidc-session"
  # The feature rows (docs/PERFORMANCE.md, "Features"), once, one second each.
  python3 scripts/bench/features.py --bin "${CARGO_TARGET_DIR:-target}/debug/oidc-session" --rounds 1 --duration 1 >/dev/null
  echo "features.py smoke run complete"
fi
