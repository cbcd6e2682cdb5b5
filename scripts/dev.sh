#!/usr/bin/env bash
# Runs the service as users deploy it, on this machine: Caddy (configured from
# examples/caddy/Caddyfile) in front of a small demo app (examples/spa), a local, real
# OpenID Provider (panva's oidc-provider, the one the tests use) and a throw-away Redis.
#   open http://127.0.0.1:8080/  and sign in with any name and password;
#   the page shows who you are, and signs you out.
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

SITE=${SITE_PORT:-8080} PUBLIC=${PUBLIC_PORT:-8081} INTERNAL=${INTERNAL_PORT:-9090}
APP=${APP_PORT:-3000} OP=${OP_PORT:-9400} REDIS=${REDIS_PORT:-6390}
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v caddy >/dev/null || missing+=(caddy)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "install ${missing[*]} first (apt-get install ${missing[*]})" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -d tests/provider/node_modules/oidc-provider ] || npm ci --prefix tests/provider --no-audit --no-fund --loglevel=error

scratch=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$scratch"' EXIT
redis-server --port "$REDIS" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning &

URL="http://127.0.0.1:$SITE"
export TEST_OP_CONFIG="{\"port\": $OP, \"clients\": [{\"client_id\": \"demo\", \"token_endpoint_auth_method\": \"none\",
  \"redirect_uris\": [\"$URL/auth/callback\"], \"post_logout_redirect_uris\": [\"$URL/\"],
  \"backchannel_logout_uri\": \"$URL/auth/backchannel-logout\"}]}"
# The provider exits when its stdin closes; keep it open for as long as this script runs.
sleep 2147483647 | node tests/provider/provider.mjs &

# The site: examples/caddy/Caddyfile as it is, after global options for a laptop (no admin
# endpoint, loopback only), and a second site block standing in for your app.
{
  printf '{\n\tadmin off\n\tdefault_bind 127.0.0.1\n}\n\n'
  cat examples/caddy/Caddyfile
  printf '\nhttp://127.0.0.1:%s {\n\troot * %s\n\tfile_server\n}\n' "$APP" "$PWD/examples/spa"
} > "$scratch/Caddyfile"
SITE_ADDRESS=":$SITE" OIDC_PUBLIC="127.0.0.1:$PUBLIC" OIDC_INTERNAL="127.0.0.1:$INTERNAL" \
  APP_UPSTREAM="127.0.0.1:$APP" XDG_CONFIG_HOME="$scratch" XDG_DATA_HOME="$scratch" \
  caddy run --config "$scratch/Caddyfile" --adapter caddyfile 2>"$scratch/caddy.log" &

export OIDC_ISSUER_URL="http://127.0.0.1:$OP"
export OIDC_CLIENT_ID=demo
export OIDC_REDIRECT_URI="$URL/auth/callback"
export OIDC_POST_LOGOUT_REDIRECT_URI="$URL/"
export OIDC_PROMPT=consent
export OIDC_REDIS_URL="redis://127.0.0.1:$REDIS"
export OIDC_LISTEN_ADDR="127.0.0.1:$PUBLIC"
export OIDC_INTERNAL_LISTEN_ADDR="127.0.0.1:$INTERNAL"
export OIDC_LOG_FORMAT=${OIDC_LOG_FORMAT:-pretty}
echo "open $URL/ and sign in with any name and password (a name starting with admin is in group admins)"
echo "  $URL/admin/ is for group admins only; Caddy's log: $scratch/caddy.log"
cargo run --locked
