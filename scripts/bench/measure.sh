# shellcheck shell=bash
# How scripts/bench/run.sh measures one step of a round: wrk or redis-benchmark under
# /usr/bin/time (the load generator's CPU), with the CPU ticks of the service instances,
# Redis and Apache read before and after (their CPU per request). Sourced by run.sh; the
# functions use its variables (RUN, r, HALF, P_REDIS, SVC, SVC_KC, SVC_T, REDIS_PID,
# APACHE_PID) and its py helper. Output: $RUN/round$r-NAME.txt (wrk) or .csv
# (redis-benchmark), NAME-ticks-before/after.json and NAME-client-cpu.txt, which
# scripts/bench/report_data.py reads.
# shellcheck disable=SC2154 # r (the round) and HALF are set by run.sh

ticks() { # CPU ticks so far of the service instances, redis-server and Apache, to $1
  py ticks "service=$SVC" "service_kc=$SVC_KC" "service_tuned=$SVC_T" "redis=$REDIS_PID" "apache=$APACHE_PID" >"$1"
}
CONNECTIONS=32
bench() { # name, duration (s), wrk arguments…; output in $RUN/round$r-name.txt
  local name=$1 dur=$2 base
  shift 2
  base="$RUN/round$r-$name"
  ticks "$base-ticks-before.json"
  /usr/bin/time -f '%U %S' -o "$base-client-cpu.txt" wrk -t2 -c"$CONNECTIONS" -d"${dur}s" --latency "$@" >"$base.txt"
  ticks "$base-ticks-after.json"
}
bench_c8() { CONNECTIONS=8 bench "$@"; } # the latency target's load: 8 connections
rbench() { # name, requests, redis-benchmark arguments…; output in $RUN/round$r-name.csv
  local name=$1 n=$2 base
  shift 2
  base="$RUN/round$r-$name"
  echo "$n" >"$base.n"
  ticks "$base-ticks-before.json"
  /usr/bin/time -f '%U %S' -o "$base-client-cpu.txt" \
    redis-benchmark -h 127.0.0.1 -p "$P_REDIS" -c 32 -n "$n" --csv "$@" >"$base.csv"
  ticks "$base-ticks-after.json"
}
bench_sampled() { # as bench, sampling the service's RSS mid-run
  local name=$1 sampler
  (sleep "$HALF"; grep VmRSS "/proc/$SVC/status") >"$RUN/round$r-$name-rss.txt" &
  sampler=$!
  bench "$@"
  wait $sampler
}
rps() { sed -n 's/^Requests\/sec: *//p' "$RUN/round$r-$1.txt"; }
