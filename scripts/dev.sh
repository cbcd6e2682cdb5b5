#!/usr/bin/env bash
# Runs the service against a local, real OpenID Provider (panva's oidc-provider, the one
# the tests use) and a throw-away Redis, so you can sign in at once:
#   open http://127.0.0.1:8080/auth/login  and sign in with any name and password.
# Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."

PUBLIC=${PUBLIC_PORT:-8080} INTERNAL=${INTERNAL_PORT:-9090} OP=${OP_PORT:-9400} REDIS=${REDIS_PORT:-6390}
if ! command -v redis-server >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "install redis-server first (apt-get install redis-server)" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
[ -d tests/provider/node_modules/oidc-provider ] || npm ci --prefix tests/provider --no-audit --no-fund --loglevel=error

trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
redis-server --port "$REDIS" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning &

APP="http://127.0.0.1:$PUBLIC"
export TEST_OP_CONFIG="{\"port\": $OP, \"clients\": [{\"client_id\": \"demo\", \"token_endpoint_auth_method\": \"none\",
  \"redirect_uris\": [\"$APP/auth/callback\"], \"post_logout_redirect_uris\": [\"$APP/\"],
  \"backchannel_logout_uri\": \"$APP/auth/backchannel-logout\"}]}"
# The provider exits when its stdin closes; keep it open for as long as this script runs.
sleep 2147483647 | node tests/provider/provider.mjs &

export OIDC_ISSUER_URL="http://127.0.0.1:$OP"
export OIDC_CLIENT_ID=demo
export OIDC_REDIRECT_URI="$APP/auth/callback"
export OIDC_POST_LOGOUT_REDIRECT_URI="$APP/"
export OIDC_PROMPT=consent
export OIDC_REDIS_URL="redis://127.0.0.1:$REDIS"
export OIDC_LISTEN_ADDR="127.0.0.1:$PUBLIC"
export OIDC_INTERNAL_LISTEN_ADDR="127.0.0.1:$INTERNAL"
export OIDC_LOG_FORMAT=${OIDC_LOG_FORMAT:-pretty}
echo "sign in at $APP/auth/login ; who you are: curl -X POST http://127.0.0.1:$INTERNAL/introspect -H 'cookie: oidc_session=…'"
cargo run --locked
