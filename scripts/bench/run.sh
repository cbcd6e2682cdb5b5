#!/usr/bin/env bash
# Benchmark of oidc-session (issue #7), with public tools only: wrk, redis-benchmark,
# /usr/bin/time -v (Debian packages), and Apache + mod_auth_openidc as the peer.
#
#   scripts/bench/run.sh            full run (~5 minutes on 2 cores); regenerates docs/PERFORMANCE.md
#   scripts/bench/run.sh --smoke    every step with tiny durations (seconds); writes nothing in the repo
#   scripts/bench/run.sh --chaos    failures under load (~4 minutes; not in CI): Redis killed and restarted,
#                                   Redis stopped 5 s, the provider down 30 s, a Sentinel master killed,
#                                   while introspections and logins run at a steady rate (scripts/bench/chaos.sh);
#                                   the report goes to stdout and --out (default: the kept run directory)
#   scripts/bench/run.sh --soak     10 minutes of constant load with logins, refreshes and logouts
#                                   mixed in (not in CI); regenerates docs/SOAK.md
#
# The service runs with its default configuration (logging included); the report lists every
# variable the benchmark sets.
#
# Options:
#   --smoke        tiny durations, 1 round (BENCH_ROUNDS and BENCH_SESSIONS still apply, e.g. for
#                  a steadier Redis-per-session figure); the report goes to the run directory (or --out)
#   --soak         the soak instead of the rounds: wrk on /introspect and /forward-auth for
#                  BENCH_SOAK_SECONDS (default 600) while a client signs in, refreshes and logs out
#                  in a loop; service RSS and Redis keys sampled every 10 s
#   --bin PATH     use this oidc-session binary instead of building the release build
#                  (full runs should measure `cargo build --release`; the smoke test may pass
#                  the debug binary it already has)
#   --bin-source TEXT  what --bin was built from, for the report (default: the repository's
#                  current commit and whether its tree has uncommitted changes)
#   --out FILE     where to write the report (full default: docs/PERFORMANCE.md)
#   --keep         keep the run directory (raw tool output, logs) and print its path (always, with --chaos)
# Chaos mode: BENCH_CHAOS_RATE=50 (introspections/s per instance) BENCH_CHAOS_SESSIONS=20
#   BENCH_CHAOS_LOGIN_EVERY=2 (s) BENCH_CHAOS_SETTLE=20 (s after each event before its check).
# Environment (full-mode defaults): BENCH_ROUNDS=3 BENCH_DURATION=10 BENCH_BCL_DURATION=5
#   BENCH_REDIS_N=200000 BENCH_LOGINS=100 BENCH_SESSIONS=100 BENCH_BCL_TOKENS=200000
#   (logins and sessions per round); BENCH_SOAK_SECONDS=600 (--soak); CARGO_TARGET_DIR is honoured by the build; BENCH_APACHE_EXTRA is appended to Apache's
#   configuration (e.g. MPM tuning), and recorded in the report when set.
#
# Everything listens on 127.0.0.1 on free ports: a throw-away redis-server, the test
# OpenID Provider (tests/provider/provider.mjs), the service (release build) against it,
# scripts/bench/mini-op.mjs with a second service instance (Keycloak-sized tokens, valid
# back-channel logout tokens), and Apache with mod_auth_openidc on the same Redis and
# provider. Every process started here is stopped on exit. Needs root only to install
# missing Debian packages (wrk redis-server redis-tools apache2 libapache2-mod-auth-openidc
# time curl); Node.js 20+ and Python 3 must be present.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/scripts/bench"
cd "$ROOT"
ORIG_ARGS=("$@")

MODE=full BIN="" BIN_SOURCE="" OUT="" KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) MODE=smoke ;;
    --chaos) MODE=chaos KEEP=1 ;;
    --soak) MODE=soak ;;
    --bin) BIN=${2:?--bin needs a path}; shift ;;
    --bin-source) BIN_SOURCE=${2:?--bin-source needs a text}; shift ;;
    --out) OUT=${2:?--out needs a path}; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$HERE/run.sh"; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$MODE" = full ]; then
  ROUNDS=${BENCH_ROUNDS:-3} DURATION=${BENCH_DURATION:-10} BCL_DURATION=${BENCH_BCL_DURATION:-5}
  REDIS_N=${BENCH_REDIS_N:-200000} LOGINS=${BENCH_LOGINS:-100} SESSIONS=${BENCH_SESSIONS:-100}
  BCL_TOKENS=${BENCH_BCL_TOKENS:-200000}
  OUT=${OUT:-$ROOT/docs/PERFORMANCE.md}
elif [ "$MODE" = soak ]; then
  SOAK_SECONDS=${BENCH_SOAK_SECONDS:-600} ROUNDS=0 DURATION=0 BCL_DURATION=0 REDIS_N=0
  OUT=${OUT:-$ROOT/docs/SOAK.md}
else
  ROUNDS=${BENCH_ROUNDS:-1} DURATION=1 BCL_DURATION=1 REDIS_N=2000 LOGINS=3 SESSIONS=${BENCH_SESSIONS:-5} BCL_TOKENS=2000
fi
# The exact command, for the report (relative to the repository, with the settings that differ).
COMMAND="scripts/bench/run.sh${ORIG_ARGS[*]:+ ${ORIG_ARGS[*]}}"
for v in BENCH_ROUNDS BENCH_DURATION BENCH_BCL_DURATION BENCH_REDIS_N BENCH_LOGINS BENCH_SESSIONS BENCH_BCL_TOKENS BENCH_APACHE_EXTRA BENCH_SOAK_SECONDS CARGO_TARGET_DIR; do
  if [ -n "${!v:-}" ]; then COMMAND="$v=${!v@Q} $COMMAND"; fi
done

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# Settings from the caller's environment must not leak into the services under test.
for v in $(compgen -e); do case "$v" in OIDC_*) unset "$v" ;; esac; done

# --- prerequisites ----------------------------------------------------------------------
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
{ command -v redis-benchmark && command -v redis-cli; } >/dev/null || missing+=(redis-tools)
if [ "$MODE" != chaos ]; then
  command -v wrk >/dev/null || missing+=(wrk)
fi
if [ "$MODE" != soak ] && [ "$MODE" != chaos ]; then
  [ -x /usr/sbin/apache2 ] || missing+=(apache2)
  [ -e /usr/lib/apache2/modules/mod_auth_openidc.so ] || missing+=(libapache2-mod-auth-openidc)
fi
[ -x /usr/bin/time ] || missing+=(time)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    die "missing: ${missing[*]} (apt-get install ${missing[*]})"
  fi
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v node >/dev/null || die "Node.js 20+ is needed (the test OpenID Provider)"
command -v python3 >/dev/null || die "python3 is needed"
[ -d tests/provider/node_modules/oidc-provider ] \
  || npm ci --prefix tests/provider --no-audit --no-fund --loglevel=error

if [ -z "$BIN" ]; then
  TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
  log "building the release binary (CARGO_TARGET_DIR=$TARGET)"
  CARGO_TARGET_DIR=$TARGET nice -n 19 cargo build --release --locked --quiet
  BIN=$TARGET/release/oidc-session
fi
[ -x "$BIN" ] || die "no executable at $BIN"
BIN=$(readlink -f "$BIN")

# --- processes and cleanup --------------------------------------------------------------
STARTED=$SECONDS
RUN=$(mktemp -d /tmp/oidc-session-bench.XXXXXX)
chmod 755 "$RUN" # Apache's workers (www-data) read the document root below it
[ "$MODE" = chaos ] || OUT=${OUT:-$RUN/PERFORMANCE.md}
PIDS=()
# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
  local status=$? pid i
  set +e
  # The service runs under /usr/bin/time: stop it too if it was never found and listed.
  [ -n "${TIME_PID:-}" ] && pkill -TERM -P "$TIME_PID" 2>/dev/null
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[i]}" 2>/dev/null; done
  for i in $(seq 50); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  wait 2>/dev/null
  if [ "$status" -ne 0 ]; then
    for f in "$RUN"/*.log; do [ -s "$f" ] && { echo "--- $f (end)"; tail -n 20 "$f"; }; done >&2
  fi
  if [ "$KEEP" = 1 ] || [ "$status" -ne 0 ]; then log "run directory kept: $RUN"; else rm -rf "$RUN"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

py() { python3 "$HERE/bench.py" "$@"; }

# The two Node providers exit when their stdin closes: feed each from a FIFO this shell holds
# open, so they go away with it even if it is killed with SIGKILL.
start_node() { # name, then the node command line; stdout goes to $RUN/name.out
  local name=$1 fd
  shift
  mkfifo "$RUN/$name.stdin"
  node "$@" <"$RUN/$name.stdin" >"$RUN/$name.out" 2>"$RUN/$name.log" &
  PIDS+=($!)
  # shellcheck disable=SC2034 # fd stays open until this shell exits; that is its use
  exec {fd}>"$RUN/$name.stdin"
}
wait_ready_line() { # name -> the READY line's fields after READY; fails after 30 s without one
  local i
  for i in $(seq 300); do
    if grep -q '^READY ' "$RUN/$1.out" 2>/dev/null; then sed -n 's/^READY //p' "$RUN/$1.out"; return; fi
    sleep 0.1
  done
  return 1
}
# start_node, then its READY line's fields in READY. A start that prints no READY line within
# 30 s is stopped and made once more, as NAME-retry: a start that stalls was seen rarely on a
# loaded machine (tests/support/provider.rs retries the test provider the same way).
start_ready() { # name, then the node command line
  local name=$1
  shift
  start_node "$name" "$@"
  READY=$(wait_ready_line "$name") && return
  log "$name printed no READY line within 30 s (its log ends: $(tail -n 1 "$RUN/$name.log" 2>/dev/null)); starting it again"
  kill "${PIDS[-1]}" 2>/dev/null || true
  start_node "$name-retry" "$@"
  READY=$(wait_ready_line "$name-retry") || die "$name did not start, twice (see $RUN/$name.log and $RUN/$name-retry.log)"
}
wait_http() { # url, expected status, what, pid of the process that should answer
  local i code
  for i in $(seq 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)
    [ "$code" = "$2" ] && return
    kill -0 "$4" 2>/dev/null || die "$3 exited"
    sleep 0.1
  done
  die "$3 not ready ($1 answered $code, expected $2)"
}

# shellcheck source=scripts/bench/apache.sh
. "$HERE/apache.sh"
# shellcheck source=scripts/bench/requests.sh
. "$HERE/requests.sh"

if [ "$MODE" = chaos ]; then
  # shellcheck source=scripts/bench/chaos.sh
  . "$HERE/chaos.sh"
  exit 0
fi

read -r P_REDIS P_A_PUB P_A_INT P_B_PUB P_B_INT P_APACHE P_T_PUB P_T_INT <<<"$(py free-ports 8)"
A_PUB="http://127.0.0.1:$P_A_PUB" A_INT="http://127.0.0.1:$P_A_INT" T_INT="http://127.0.0.1:$P_T_INT"
B_PUB="http://127.0.0.1:$P_B_PUB" B_INT="http://127.0.0.1:$P_B_INT"
APACHE="http://127.0.0.1:$P_APACHE"
REDIS=127.0.0.1:$P_REDIS

py meta --mode "$MODE" --repo "$ROOT" --binary "$BIN" --command "$COMMAND" --out "$RUN/meta.json" \
  ${BIN_SOURCE:+--built-from "$BIN_SOURCE"} --rounds "$ROUNDS" --wrk-duration "${DURATION}s" --bcl-duration "${BCL_DURATION}s" --redis-n "$REDIS_N"
if [ "$MODE" = soak ]; then
  log "mode soak: ${SOAK_SECONDS}s; run directory $RUN"
else
  log "mode $MODE: $ROUNDS round(s), wrk ${DURATION}s; run directory $RUN"
fi

redis-server --bind 127.0.0.1 --port "$P_REDIS" --save "" --appendonly no --loglevel warning \
  >"$RUN/redis.log" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
for i in $(seq 100); do redis-cli -p "$P_REDIS" ping >/dev/null 2>&1 && break; sleep 0.1; done

APACHE_SECRET=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
# The rounds measure a session whose access token stays valid for the whole run (1 hour), so
# that every round takes the same path; a session past its access token's expiry is measured
# on its own (the mini-OP's, below). The soak keeps the provider's 5 minutes and crosses it.
if [ "$MODE" = soak ]; then ACCESS_TTL=300; else ACCESS_TTL=3600; fi
export TEST_OP_CONFIG="{\"port\": 0, \"access_token_ttl\": $ACCESS_TTL, \"clients\": [
  {\"client_id\": \"oidc-session\", \"token_endpoint_auth_method\": \"none\",
   \"redirect_uris\": [\"$A_PUB/auth/callback\"], \"post_logout_redirect_uris\": [\"$A_PUB/\"],
   \"backchannel_logout_uri\": \"$A_PUB/auth/backchannel-logout\"},
  {\"client_id\": \"apache-bench\", \"client_secret\": \"$APACHE_SECRET\",
   \"token_endpoint_auth_method\": \"client_secret_basic\",
   \"redirect_uris\": [\"$APACHE/oidc/redirect_uri\"]}]}"
start_ready provider tests/provider/provider.mjs
unset TEST_OP_CONFIG
ISSUER=$READY

if [ "$MODE" != soak ]; then
  node "$HERE/mini-op.mjs" keygen "$RUN/mini-op-key.pem"
  # Access tokens that expire at once: its sessions are in the state most of a session's life is
  # spent in with short-lived access tokens (alive through the refresh token they hold).
  start_ready mini-op "$HERE/mini-op.mjs" serve --key "$RUN/mini-op-key.pem" --client-id oidc-session --access-ttl 1
  read -r MINI_ISSUER MINI_KID <<<"$READY"
  MINI_BASE=${MINI_ISSUER%/realms/*}
fi

# The service under test, under /usr/bin/time -v (its maximum RSS and CPU over the run), with
# its default configuration: only what it needs to run here (provider, client, addresses,
# Redis), OIDC_PROMPT=consent (the test provider issues refresh tokens only after consent) and
# an encryption key (what every production deployment should set; it only adds work).
service_env() { # issuer, public port, internal port, redis db, key prefix, encryption key
  echo OIDC_ISSUER_URL="$1" OIDC_CLIENT_ID=oidc-session \
    OIDC_REDIRECT_URI="http://127.0.0.1:$2/auth/callback" \
    OIDC_POST_LOGOUT_REDIRECT_URI="http://127.0.0.1:$2/" OIDC_PROMPT=consent \
    OIDC_REDIS_URL="redis://127.0.0.1:$P_REDIS/$4" OIDC_REDIS_KEY_PREFIX="$5" \
    OIDC_LISTEN_ADDR="127.0.0.1:$2" OIDC_INTERNAL_LISTEN_ADDR="127.0.0.1:$3" \
    OIDC_SESSION_ENCRYPTION_KEY="$6"
}
new_key() { head -c 32 /dev/urandom | base64; }
KEY_A=$(new_key)
ENV_A=$(service_env "$ISSUER" "$P_A_PUB" "$P_A_INT" 0 oidc: "$KEY_A")
# For the report: the names and values the service gets (not the key).
tr ' ' '\n' <<<"$ENV_A" | sed 's/^\(OIDC_SESSION_ENCRYPTION_KEY=\).*/\1(32 random bytes, base64)/' >"$RUN/service-env.txt"
# shellcheck disable=SC2086 # word splitting of the NAME=value list is intended (no spaces in values)
env $ENV_A /usr/bin/time -v -o "$RUN/service-time-v.txt" "$BIN" >"$RUN/service-a.log" 2>&1 &
TIME_PID=$!
PIDS+=("$TIME_PID")
SVC=""
for i in $(seq 200); do
  SVC=$(pgrep -P "$TIME_PID" || true)
  [ -n "$SVC" ] && [ "$(readlink "/proc/$SVC/exe" 2>/dev/null)" = "$BIN" ] && break
  SVC=""
  sleep 0.05
done
[ -n "$SVC" ] || die "the service did not start"
PIDS+=("$SVC") # stopped first (the list is walked backwards); /usr/bin/time then ends by itself
wait_http "$A_INT/readyz" 200 "the service" "$SVC"

if [ "$MODE" = soak ]; then
  SESSION=$(py signin --start "$A_PUB/auth/login?return_to=/bench-signed-in" \
    --done "$A_PUB/bench-signed-in" --cookie oidc_session --user bench-user)
  # shellcheck source=scripts/bench/soak.sh
  . "$HERE/soak.sh"
  exit 0
fi

ENV_KC=$(service_env "$MINI_ISSUER" "$P_B_PUB" "$P_B_INT" 1 kc: "$(new_key)")
# shellcheck disable=SC2086
env $ENV_KC "$BIN" >"$RUN/service-kc.log" 2>&1 &
SVC_KC=$!
PIDS+=("$SVC_KC")
# The extra "tuned" instance: the same sessions (same Redis database, prefix and key) with
# OIDC_LOG=warn, for one labelled row beside the default configuration's.
ENV_T=$(service_env "$ISSUER" "$P_T_PUB" "$P_T_INT" 0 oidc: "$KEY_A")
# shellcheck disable=SC2086
env $ENV_T OIDC_LOG=warn "$BIN" >"$RUN/service-tuned.log" 2>&1 &
SVC_T=$!
PIDS+=("$SVC_T")
wait_http "$B_INT/readyz" 200 "the second service instance (mini-OP)" "$SVC_KC"
wait_http "$T_INT/readyz" 200 "the tuned service instance" "$SVC_T"

# Apache + mod_auth_openidc: the peer, on the same Redis and the same provider.
start_apache

# --- sign in once, idle RSS ---------------------------------------------------------------
log "signing in to the service and to Apache through the provider's login and consent pages"
SESSION=$(py signin --start "$A_PUB/auth/login?return_to=/bench-signed-in" \
  --done "$A_PUB/bench-signed-in" --cookie oidc_session --user bench-user)
APACHE_SESSION=$(py signin --start "$APACHE/login/ok.txt" --done "$APACHE/login/ok.txt" \
  --cookie mod_auth_openidc_session --user bench-user)

KC_SESSION=$(py signin --start "$B_PUB/auth/login?return_to=/bench-signed-in" \
  --done "$B_PUB/bench-signed-in" --cookie oidc_session --user bench-user)
check_session() { # fails unless both endpoints and Apache see the sessions signed in above
  curl -sf -X POST "$B_INT/introspect" -H 'content-type: application/json' \
    -d "{\"session\":\"$KC_SESSION\"}" | grep -q '"active":true' || die "/introspect (mini-OP session): not active ($1)"
  curl -sf -X POST "$A_INT/introspect" -H 'content-type: application/json' \
    -d "{\"session\":\"$SESSION\"}" | grep -q '"active":true' || die "/introspect: session not active ($1)"
  curl -sf -X POST "$T_INT/introspect" -H 'content-type: application/json' \
    -d "{\"session\":\"$SESSION\"}" | grep -q '"active":true' || die "/introspect (tuned instance): session not active ($1)"
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H "cookie: oidc_session=$SESSION" "$A_INT/forward-auth")" = 200 ] \
    || die "/forward-auth: not 200 ($1)"
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H "cookie: mod_auth_openidc_session=$APACHE_SESSION" "$APACHE/protected/ok.txt")" = 200 ] \
    || die "Apache: authenticated request not 200 ($1)"
}
check_session "after sign-in"
sleep 2
grep VmRSS "/proc/$SVC/status" >"$RUN/rss-idle.txt"
log "idle: $(cat "$RUN/rss-idle.txt")"

# --- CPU per login, Redis per session (run at the start of every round) ---------------------------
logins() { # round
  py logins --start "$A_PUB/auth/login?return_to=/bench-signed-in" --done "$A_PUB/bench-signed-in" \
    --cookie oidc_session --count "$LOGINS" --user-prefix "cpu-r$1-" --pid "$SVC" --redis "$REDIS" \
    --out "$RUN/round$1-logins-test-provider.json" >/dev/null
  py logins --start "$B_PUB/auth/login?return_to=/bench-signed-in" --done "$B_PUB/bench-signed-in" \
    --cookie oidc_session --count "$SESSIONS" --user-prefix "kc-r$1-" --pid "$SVC_KC" --redis "$REDIS/1" \
    --out "$RUN/round$1-logins-keycloak-sized.json" >/dev/null
  if [ "$1" = 1 ]; then
    curl -sf "$MINI_BASE/bench/sizes" >"$RUN/kc-token-sizes.json"
    py record --redis "$REDIS/1" --prefix kc: --logins "$RUN/round1-logins-keycloak-sized.json" \
      --out "$RUN/kc-record.json" >/dev/null
    py record --redis "$REDIS" --prefix oidc: --logins "$RUN/round1-logins-test-provider.json" \
      --out "$RUN/tp-record.json" >/dev/null
  fi
}

# --- back-channel logout tokens, the wrk scripts ----------------------------------------------
prepare_requests

# The Redis commands behind one /introspect and one /forward-auth, seen with MONITOR; the one
# that names the session is replayed by redis-benchmark in every round (the service's own
# round trip, beside the plain GET).
capture() { # name, capture options, curl arguments…
  local name=$1 opt=$2 mon
  shift 2
  redis-cli -p "$P_REDIS" MONITOR >"$RUN/monitor-$name.txt" &
  mon=$!
  sleep 0.5
  curl -s -o /dev/null "$@"
  sleep 0.5
  kill "$mon"
  wait "$mon" 2>/dev/null || true
  # shellcheck disable=SC2086 # $opt is two words
  py capture --monitor "$RUN/monitor-$name.txt" --cookie "$SESSION" $opt >"$RUN/captured-$name.json"
}
capture introspect "--out $RUN/replay-introspect.args" \
  -X POST "$A_INT/introspect" -H 'content-type: application/json' -d "{\"session\":\"$SESSION\"}"
capture forward-auth "--out $RUN/replay-forward-auth.args" -H "cookie: oidc_session=$SESSION" "$A_INT/forward-auth"
capture apache "--match $APACHE_SESSION" -H "cookie: mod_auth_openidc_session=$APACHE_SESSION" "$APACHE/protected/ok.txt"
mapfile -t REPLAY <"$RUN/replay-introspect.args"

# --- the rounds ---------------------------------------------------------------------------------
HALF=$(awk "BEGIN { print $DURATION / 2 }")
DIAG_DURATION=$(((DURATION + 1) / 2))
# shellcheck source=scripts/bench/measure.sh
. "$HERE/measure.sh"

for r in $(seq 1 "$ROUNDS"); do
  log "round $r/$ROUNDS: $LOGINS logins against the test provider, $SESSIONS with Keycloak-sized tokens"
  logins "$r"
  check_session "before round $r"
  py cpu-snapshot $$ >"$RUN/round$r-cpu-before.json"
  bench_sampled introspect "$DURATION" -s "$RUN/introspect.lua" "$A_INT/introspect"
  bench_sampled forward_auth "$DURATION" -H "Cookie: oidc_session=$SESSION" "$A_INT/forward-auth"
  bench_c8 introspect_c8 "$DURATION" -s "$RUN/introspect.lua" "$A_INT/introspect"
  bench_c8 forward_auth_c8 "$DURATION" -H "Cookie: oidc_session=$SESSION" "$A_INT/forward-auth"
  bench introspect_tuned "$DURATION" -s "$RUN/introspect.lua" "$T_INT/introspect"
  check_session "after the service's round $r"
  # `-t set,get` as two runs (SET first: GET reads the value it wrote), to time each.
  rbench redis_set "$REDIS_N" -t set -d 1600
  rbench redis_get "$REDIS_N" -t get -d 1600
  rbench redis_replay $((REDIS_N / 2)) "${REPLAY[@]}"
  bench healthz "$DIAG_DURATION" "$A_INT/healthz"
  bench introspect_expired "$DIAG_DURATION" -s "$RUN/introspect-expired.lua" "$B_INT/introspect"
  bench apache "$DURATION" -H "Cookie: mod_auth_openidc_session=$APACHE_SESSION" "$APACHE/protected/ok.txt"
  bench apache_static "$DIAG_DURATION" "$APACHE/public/ok.txt"
  # Forget the jtis, so that the same tokens are fresh again (the mini-OP's session stays).
  redis-cli -p "$P_REDIS" -n 1 --scan --pattern 'kc:jti:*' | xargs -r -n 1000 redis-cli -p "$P_REDIS" -n 1 UNLINK >/dev/null
  bench bcl_valid "$BCL_DURATION" -s "$RUN/bcl-valid.lua" "$B_PUB/auth/backchannel-logout" -- "$RUN/logout-tokens.txt"
  bench bcl_refused "$BCL_DURATION" -s "$RUN/bcl-refused.lua" "$A_PUB/auth/backchannel-logout"
  log "round $r/$ROUNDS: introspect $(rps introspect)/s ($(rps introspect_tuned)/s tuned), forward-auth $(rps forward_auth)/s," \
    "redis GET $(sed -n 's/^"GET","\([0-9.]*\)".*/\1/p' "$RUN/round$r-redis_get.csv")/s, apache $(rps apache)/s," \
    "back-channel $(rps bcl_valid)/s valid, $(rps bcl_refused)/s refused"
  py cpu-snapshot $$ >"$RUN/round$r-cpu-after.json"
  log "round $r/$ROUNDS: CPU used by other processes meanwhile: $(python3 -c "import json; a, b = (json.load(open('$RUN/round$r-cpu-' + x + '.json')) for x in ('before', 'after')); print('%.0f %%' % (100 * max(0, (b['busy'] - a['busy']) - (b['ours'] - a['ours'])) / (b['total'] - a['total'])))")"
done
check_session "after the last round"
grep VmHWM "/proc/$SVC/status" >"$RUN/rss-hwm.txt"

# Stop the service so that /usr/bin/time -v reports, then write the report.
kill -TERM "$SVC"
wait "$TIME_PID" || true
echo $((SECONDS - STARTED)) >"$RUN/elapsed.txt"
py render --dir "$RUN" --out "$OUT"
case "$OUT" in "$RUN"/*) [ "$KEEP" = 1 ] && log "report: $OUT" ;; *) log "report: $OUT" ;; esac
[ "$MODE" = smoke ] && log "smoke run complete: every step ran (its numbers mean nothing)"
exit 0
