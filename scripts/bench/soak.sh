# shellcheck shell=bash
# The soak (`scripts/bench/run.sh --soak`), sourced by run.sh once the service runs and SESSION
# is signed in: wrk on /introspect and /forward-auth for SOAK_SECONDS while the soak.py
# driver signs in, refreshes and logs out in a loop and samples the service's RSS and Redis's
# keys every 10 s. Uses run.sh's variables and functions (RUN, HERE, py, log, die, PIDS, …).

# A wrk script that counts the answers by status (and /introspect's inactive ones) and writes
# the counts as JSON when wrk ends.
soak_lua() { # output file, 1 if answers must say "active":true, then the request's set-up lines
  local out=$1 active=$2
  shift 2
  printf '%s\n' "$@"
  cat <<EOF
local threads = {}
function setup(thread) threads[#threads + 1] = thread end
counts = {}
function response(status, headers, body)
  local k = tostring(status)
  if status == 200 and $active == 1 and not body:find('"active":true', 1, true) then k = "200 inactive" end
  counts[k] = (counts[k] or 0) + 1
end
function done(summary, latency, requests)
  local total, parts = {}, {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do total[k] = (total[k] or 0) + v end
  end
  for k, v in pairs(total) do parts[#parts + 1] = string.format('"%s": %d', k, v) end
  local f = assert(io.open("$out", "w"))
  f:write("{" .. table.concat(parts, ", ") .. "}\n")
  f:close()
end
EOF
}
soak_lua "$RUN/soak-introspect-status.json" 1 'wrk.method = "POST"' \
  "wrk.body = '{\"session\":\"$SESSION\"}'" 'wrk.headers["Content-Type"] = "application/json"' \
  >"$RUN/soak-introspect.lua"
soak_lua "$RUN/soak-forward-auth-status.json" 0 "wrk.headers[\"Cookie\"] = \"oidc_session=$SESSION\"" \
  >"$RUN/soak-forward-auth.lua"

log "soak: ${SOAK_SECONDS}s of wrk on /introspect and /forward-auth (8 connections each) with logins, refreshes and logouts"
SOAK_STARTED=$SECONDS
wrk -t1 -c8 -d"${SOAK_SECONDS}s" --latency -s "$RUN/soak-introspect.lua" "$A_INT/introspect" \
  >"$RUN/soak-introspect.txt" 2>&1 &
W1=$!
PIDS+=("$W1")
wrk -t1 -c8 -d"${SOAK_SECONDS}s" --latency -s "$RUN/soak-forward-auth.lua" "$A_INT/forward-auth" \
  >"$RUN/soak-forward-auth.txt" 2>&1 &
W2=$!
PIDS+=("$W2")
python3 "$HERE/soak.py" soak --public "$A_PUB" --internal "$A_INT" --pid "$SVC" --redis "$REDIS" --prefix oidc: \
  --seconds "$SOAK_SECONDS" --out "$RUN/soak.json" >/dev/null
wait "$W1" || die "wrk on /introspect failed: $(tail -n 3 "$RUN/soak-introspect.txt")"
wait "$W2" || die "wrk on /forward-auth failed: $(tail -n 3 "$RUN/soak-forward-auth.txt")"
curl -sf -X POST "$A_INT/introspect" -H 'content-type: application/json' -d "{\"session\":\"$SESSION\"}" \
  | grep -q '"active":true' || die "/introspect: the load's session is not active after the soak"
grep VmHWM "/proc/$SVC/status" >"$RUN/rss-hwm.txt"
kill -TERM "$SVC"
wait "$TIME_PID" || true
echo $((SECONDS - SOAK_STARTED)) >"$RUN/elapsed.txt"
python3 "$HERE/soak.py" render-soak --dir "$RUN" --out "$OUT"
log "report: $OUT"
