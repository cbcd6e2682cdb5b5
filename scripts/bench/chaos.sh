# shellcheck shell=bash
# scripts/bench/run.sh --chaos: failures under load (issue 17). Sourced by run.sh once its
# helpers (py, start_node, start_ready, wait_http, log, die) and cleanup trap are set.
#
# Two service instances (release build) against the test provider: A on a standalone Redis
# with an append-only file fsynced at every write (so a killed Redis keeps its data), B on
# a Sentinel set (master, replica, one sentinel). While chaos.py introspects every
# instance's sessions at a steady rate and signs a new user in every few seconds, this
# script in turn: kills Redis A (SIGKILL) and starts it again, stops Redis A for 5 s
# (SIGSTOP/SIGCONT), kills the provider for 30 s and starts it again on the same port
# (with new signing keys), and kills the Sentinel master (SIGKILL; the sentinel promotes
# the replica). After each event it waits, then checks that every session signed in
# before the load began is still active. The report goes to --out (default: the run
# directory) and to stdout.

cx() { python3 "$HERE/chaos.py" "$@"; }
RATE=${BENCH_CHAOS_RATE:-50} NSESSIONS=${BENCH_CHAOS_SESSIONS:-20}
LOGIN_EVERY=${BENCH_CHAOS_LOGIN_EVERY:-2} SETTLE=${BENCH_CHAOS_SETTLE:-20}
OUT=${OUT:-$RUN/CHAOS.md} # the run directory is kept in this mode

read -r P_REDIS P_MASTER P_REPLICA P_SENTINEL P_A_PUB P_A_INT P_B_PUB P_B_INT <<<"$(py free-ports 8)"
A_PUB="http://127.0.0.1:$P_A_PUB" A_INT="http://127.0.0.1:$P_A_INT"
B_PUB="http://127.0.0.1:$P_B_PUB" B_INT="http://127.0.0.1:$P_B_INT"
mkdir -p "$RUN/redis-a" "$RUN/master" "$RUN/replica" "$RUN/sentinel"

start_redis() { # log name, port, directory, extra arguments…; sets LAST_PID
  local name=$1 port=$2 dir=$3
  shift 3
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" --loglevel warning "$@" \
    >>"$RUN/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && return; sleep 0.1; done
  die "redis-server $name did not start"
}
start_redis_a() {
  start_redis redis-a "$P_REDIS" "$RUN/redis-a" --appendonly yes --appendfsync always
  REDIS_A_PID=$LAST_PID
}
start_redis_a
start_redis master "$P_MASTER" "$RUN/master" --repl-diskless-sync-delay 0
MASTER_PID=$LAST_PID
start_redis replica "$P_REPLICA" "$RUN/replica" --replicaof 127.0.0.1 "$P_MASTER"
cat >"$RUN/sentinel/sentinel.conf" <<EOC
port $P_SENTINEL
bind 127.0.0.1
dir $RUN/sentinel
sentinel monitor mymaster 127.0.0.1 $P_MASTER 1
sentinel down-after-milliseconds mymaster 2000
sentinel failover-timeout mymaster 10000
EOC
redis-server "$RUN/sentinel/sentinel.conf" --sentinel >>"$RUN/sentinel.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  [ "$(redis-cli -p "$P_SENTINEL" sentinel replicas mymaster 2>/dev/null | grep -c '^slave$')" = 1 ] && break
  sleep 0.2
done
sentinel_master() { redis-cli -p "$P_SENTINEL" sentinel get-master-addr-by-name mymaster | tail -n 1; }

provider_config() { # port
  echo "{\"port\": $1, \"clients\": [
    {\"client_id\": \"chaos-a\", \"token_endpoint_auth_method\": \"none\", \"redirect_uris\": [\"$A_PUB/auth/callback\"]},
    {\"client_id\": \"chaos-b\", \"token_endpoint_auth_method\": \"none\", \"redirect_uris\": [\"$B_PUB/auth/callback\"]}]}"
}
PROVIDER_RUN=0
start_provider() { # port
  PROVIDER_RUN=$((PROVIDER_RUN + 1))
  TEST_OP_CONFIG=$(provider_config "$1")
  export TEST_OP_CONFIG
  start_ready "provider$PROVIDER_RUN" tests/provider/provider.mjs
  unset TEST_OP_CONFIG
  PROVIDER_PID=${PIDS[-1]}
  ISSUER=$READY
}
start_provider 0
P_OP=${ISSUER##*:}

chaos_env() { # client id, public port, internal port, Redis variables…
  local id=$1 pub=$2 int=$3
  shift 3
  echo OIDC_ISSUER_URL="$ISSUER" OIDC_CLIENT_ID="$id" OIDC_REDIRECT_URI="http://127.0.0.1:$pub/auth/callback" \
    OIDC_LISTEN_ADDR="127.0.0.1:$pub" OIDC_INTERNAL_LISTEN_ADDR="127.0.0.1:$int" \
    OIDC_SESSION_ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64)" OIDC_LOG=warn OIDC_LOG_FORMAT=json "$@"
}
# shellcheck disable=SC2046 # word splitting of the NAME=value list is intended (no spaces in values)
env $(chaos_env chaos-a "$P_A_PUB" "$P_A_INT" OIDC_REDIS_URL="redis://127.0.0.1:$P_REDIS") "$BIN" >"$RUN/service-a.log" 2>&1 &
SVC_A=$!
PIDS+=("$SVC_A")
# shellcheck disable=SC2046
env $(chaos_env chaos-b "$P_B_PUB" "$P_B_INT" OIDC_REDIS_SENTINELS="127.0.0.1:$P_SENTINEL" \
  OIDC_REDIS_SENTINEL_MASTER=mymaster) "$BIN" >"$RUN/service-b.log" 2>&1 &
SVC_B=$!
PIDS+=("$SVC_B")
wait_http "$A_INT/readyz" 200 "service A" "$SVC_A"
wait_http "$B_INT/readyz" 200 "service B" "$SVC_B"
started() { cut -d' ' -f22 "/proc/$1/stat" 2>/dev/null || echo gone; } # start time, in ticks since boot
START_A=$(started "$SVC_A") START_B=$(started "$SVC_B")

log "signing in $NSESSIONS users per instance"
cx sessions --start "$A_PUB/auth/login?return_to=/chaos" --done "$A_PUB/chaos" --count "$NSESSIONS" \
  --user-prefix a-user- --out "$RUN/sessions-a.txt"
cx sessions --start "$B_PUB/auth/login?return_to=/chaos" --done "$B_PUB/chaos" --count "$NSESSIONS" \
  --user-prefix b-user- --out "$RUN/sessions-b.txt"

EVENTS=$RUN/chaos-events.txt
: >"$EVENTS"
mark() { echo "$(date +%s.%N) $*" >>"$EVENTS"; log "$*"; }
check() { # event, instance, internal URL, sessions file
  sleep "$SETTLE"
  mark "$1 $2 lost=$(cx check --internal "$3" --sessions "$4")"
}
log "load: $RATE introspections/s and a sign-in every ${LOGIN_EVERY}s per instance"
cx load --instance "A,$A_INT,$A_PUB/auth/login?return_to=/chaos,$A_PUB/chaos,$RUN/sessions-a.txt" \
  --instance "B,$B_INT,$B_PUB/auth/login?return_to=/chaos,$B_PUB/chaos,$RUN/sessions-b.txt" \
  --rate "$RATE" --login-every "$LOGIN_EVERY" --stop "$RUN/stop" --out "$RUN/load.jsonl" &
LOAD_PID=$!
sleep "$((SETTLE / 2))"

mark "redis-restart A start"
kill -KILL "$REDIS_A_PID"
wait "$REDIS_A_PID" 2>/dev/null || true
sleep 1
start_redis_a
mark "redis-restart A end"
check redis-restart A "$A_INT" "$RUN/sessions-a.txt"

mark "redis-pause-5s A start"
kill -STOP "$REDIS_A_PID"
sleep 5
kill -CONT "$REDIS_A_PID"
mark "redis-pause-5s A end"
check redis-pause-5s A "$A_INT" "$RUN/sessions-a.txt"

mark "provider-down-30s both start"
kill "$PROVIDER_PID"
wait "$PROVIDER_PID" 2>/dev/null || true
sleep 30
start_provider "$P_OP"
mark "provider-down-30s both end"
check provider-down-30s A "$A_INT" "$RUN/sessions-a.txt"
mark "provider-down-30s B lost=$(cx check --internal "$B_INT" --sessions "$RUN/sessions-b.txt")"

OLD_MASTER=$(sentinel_master)
mark "sentinel-failover B start"
kill -KILL "$MASTER_PID"
for _ in $(seq 300); do [ "$(sentinel_master)" != "$OLD_MASTER" ] && break; sleep 0.1; done
mark "sentinel-failover B end"
check sentinel-failover B "$B_INT" "$RUN/sessions-b.txt"

touch "$RUN/stop"
wait "$LOAD_PID"
printf '[{"name": "A", "pid": %s, "start_before": "%s", "start_after": "%s"},
 {"name": "B", "pid": %s, "start_before": "%s", "start_after": "%s"}]\n' \
  "$SVC_A" "$START_A" "$(started "$SVC_A")" "$SVC_B" "$START_B" "$(started "$SVC_B")" >"$RUN/processes.json"
cx report --load "$RUN/load.jsonl" --events "$EVENTS" --processes "$RUN/processes.json" --out "$OUT"
log "report: $OUT"
