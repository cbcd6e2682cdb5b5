"""Two builds of the service side by side on the hot path, rounds interleaved (issue 27):
service CPU and system calls per request, `/introspect` and `/forward-auth` at 32 and 8
connections, as ratios to `redis-benchmark` GET on the same Redis in the same round.

    python3 scripts/bench/ab.py --before BIN --after BIN [--rounds 3] [--duration 5] [--replica yes]
                                [--topology standalone|sentinel|cluster]

Starts a throw-away redis-server, the test provider (tests/provider/provider.mjs) and both
binaries with their default configuration (as scripts/bench/run.sh does), signs one user in
to each, then per round runs every measurement for `before` and `after` back to back, the
order alternating between rounds. CPU per request is the service's utime+stime over a wrk
run (/proc/<pid>/stat); system calls per request come from `strace -c -f` attached for a
separate short run (strace slows the service, so that run's rate is not reported). Redis
CPU per request counts the server and, with `--replica yes`, a replica attached to it
(`--replicaof`), which applies whatever the master replicates. `--topology sentinel`: a
master, its replica and one sentinel (the services find the master through it);
`--topology cluster`: three masters with a replica each (`redis-benchmark --cluster`); Redis
CPU then counts every node. Prints
a Markdown report: medians of the rounds. Needs wrk, redis-server, redis-benchmark, strace,
Node.js 20+ and `npm ci --prefix tests/provider`.
"""

import base64
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import (CLK_TCK, Processes, browser, cookie_value, free_ports, introspect_script, med, opts,  # noqa: E402
                      parse_wrk, redis_cmd, sign_in, tree_ticks, until, wait_http)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def cluster_ports(n):
    """`n` free ports at most 55535 whose cluster bus port (+10000) is free too."""
    import random
    import socket

    found = []
    while len(found) < n:
        port = random.randint(20000, 55535)
        try:
            for p in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        if port not in found:
            found.append(port)
    return found


class Run:
    def __init__(self, o):
        self.dir = tempfile.mkdtemp(prefix="oidc-session-ab.")
        self.procs = Processes(self.dir)
        self.duration = int(o.get("duration", "5"))
        self.rounds = int(o.get("rounds", "3"))
        self.bins = {"before": os.path.abspath(o["before"]), "after": os.path.abspath(o["after"])}
        self.replica = o.get("replica") == "yes"
        self.topology = o.get("topology", "standalone")
        if self.topology not in ("standalone", "sentinel", "cluster"):
            raise SystemExit("--topology is standalone, sentinel or cluster")
        self.redis_env = None

    def redis(self, name, port, *extra):
        os.makedirs(os.path.join(self.dir, name), exist_ok=True)
        return self.procs.spawn(name, ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                       "--appendonly", "no", "--loglevel", "warning",
                                       "--dir", os.path.join(self.dir, name), *extra])

    def start_sentinel(self, master, replica):
        """A master with one replica and one sentinel watching them (as scripts/bench/chaos.sh)."""
        sentinel = free_ports(1)[0]
        self.redis_pids["master"] = self.redis("master", master).pid
        self.redis_pids["replica"] = self.redis("replica", replica, "--replicaof", "127.0.0.1", str(master)).pid
        conf = os.path.join(self.dir, "sentinel.conf")
        with open(conf, "w") as f:
            f.write(f"port {sentinel}\nbind 127.0.0.1\ndir {self.dir}\n"
                    f"sentinel monitor mymaster 127.0.0.1 {master} 1\n")
        self.redis_pids["sentinel"] = self.procs.spawn("sentinel", ["redis-server", conf, "--sentinel"]).pid
        until(lambda: redis_cmd(f"127.0.0.1:{sentinel}", "SENTINEL", "REPLICAS", "mymaster"), "the sentinel's replica")
        self.redis_env = dict(OIDC_REDIS_SENTINELS=f"127.0.0.1:{sentinel}", OIDC_REDIS_SENTINEL_MASTER="mymaster")

    def start_cluster(self):
        """Three masters with a replica each (`redis-cli --cluster create --cluster-replicas 1`)."""
        ports = cluster_ports(6)
        self.redis_port = ports[0]
        for i, port in enumerate(ports):
            self.redis_pids[f"node{i}"] = self.redis(f"node{i}", port, "--cluster-enabled", "yes",
                                                     "--cluster-node-timeout", "5000").pid
        for port in ports:
            until(lambda: redis_cmd(f"127.0.0.1:{port}", "PING") == "PONG", f"redis on {port}")
        subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
                        "--cluster-replicas", "1", "--cluster-yes"], check=True, capture_output=True, timeout=60)
        for port in ports:
            until(lambda: "cluster_state:ok" in redis_cmd(f"127.0.0.1:{port}", "CLUSTER", "INFO"), f"cluster on {port}")
        self.redis_env = dict(OIDC_REDIS_CLUSTER_NODES=",".join(f"redis://127.0.0.1:{p}" for p in ports[:3]))

    def start(self):
        ports = free_ports(6)
        self.redis_port = ports[0]
        self.redis_pids = {}
        if self.topology == "sentinel":
            self.start_sentinel(ports[0], ports[5])
        elif self.topology == "cluster":
            self.start_cluster()
        else:
            self.redis_pids["redis"] = self.redis("redis", ports[0]).pid
            if self.replica:
                self.redis_pids["replica"] = self.redis("replica", ports[5], "--replicaof", "127.0.0.1", str(ports[0]),
                                                        "--repl-diskless-load", "swapdb").pid
        pub = {"before": ports[1], "after": ports[3]}
        self.internal = {"before": f"http://127.0.0.1:{ports[2]}", "after": f"http://127.0.0.1:{ports[4]}"}
        clients = [{"client_id": f"oidc-session-{v}", "token_endpoint_auth_method": "none",
                    "redirect_uris": [f"http://127.0.0.1:{pub[v]}/auth/callback"]} for v in pub]
        issuer = self.procs.provider(ROOT, {"port": 0, "access_token_ttl": 3600, "clients": clients})
        self.pids, self.cookies, self.scripts = {}, {}, {}
        for i, v in enumerate(("before", "after")):
            env = {k: x for k, x in os.environ.items() if not k.startswith("OIDC_")}
            env.update(OIDC_ISSUER_URL=issuer, OIDC_CLIENT_ID=f"oidc-session-{v}",
                       OIDC_REDIRECT_URI=f"http://127.0.0.1:{pub[v]}/auth/callback", OIDC_PROMPT="consent",
                       OIDC_REDIS_KEY_PREFIX=f"oidc-{v}:",
                       OIDC_LISTEN_ADDR=f"127.0.0.1:{pub[v]}",
                       OIDC_INTERNAL_LISTEN_ADDR=self.internal[v].removeprefix("http://"),
                       OIDC_SESSION_ENCRYPTION_KEY=base64.b64encode(os.urandom(32)).decode())
            env.update(self.redis_env or dict(OIDC_REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/{i}"))
            self.pids[v] = self.procs.spawn("service-" + v, [self.bins[v]], env).pid
            wait_http(self.internal[v] + "/readyz")
            jar, opener = browser()
            done = f"http://127.0.0.1:{pub[v]}/ab-signed-in"
            sign_in(opener, f"http://127.0.0.1:{pub[v]}/auth/login?return_to=/ab-signed-in", done, "ab-user")
            self.cookies[v] = cookie_value(jar, "oidc_session")
            self.scripts[v] = introspect_script(self.dir, v, self.cookies[v])

    def wrk_args(self, v, endpoint):
        if endpoint == "introspect":
            return ["-s", self.scripts[v], self.internal[v] + "/introspect"]
        return ["-H", f"Cookie: oidc_session={self.cookies[v]}", self.internal[v] + "/forward-auth"]

    def wrk(self, v, endpoint, conns, seconds):
        out = os.path.join(self.dir, "wrk.txt")
        with open(out, "w") as f:
            subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency"] + self.wrk_args(v, endpoint),
                           stdout=f, check=True)
        return parse_wrk(out)

    def measure(self, v, endpoint, conns):
        roots = dict(self.redis_pids, s=self.pids[v])
        before = tree_ticks(roots)
        result = self.wrk(v, endpoint, conns, self.duration)
        after = tree_ticks(roots)
        per_request = lambda names: sum(after[n] - before[n] for n in names) / CLK_TCK * 1e6 / max(result["requests"], 1)
        result["cpu_us"] = per_request(["s"])
        result["redis_us"] = per_request(list(self.redis_pids))
        return result

    def syscalls(self, v, endpoint, conns):
        """System calls per request of the service over a 2 s wrk run under `strace -c -f`."""
        out = os.path.join(self.dir, "strace.txt")
        tracer = subprocess.Popen(["strace", "-c", "-f", "-o", out, "-p", str(self.pids[v])],
                                  stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        result = self.wrk(v, endpoint, conns, 2)
        tracer.send_signal(2)
        tracer.wait()
        text = open(out).read()
        # Rows: % time, seconds, usecs/call, calls, [errors,] syscall; the last is "total".
        calls = {m.group(2): int(m.group(1))
                 for m in re.finditer(r"^\s*[\d.]+\s+[\d.]+\s+\d*\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", text, re.M)}
        total = calls.pop("total", None)
        n = max(result["requests"], 1)
        top = sorted(calls.items(), key=lambda kv: -kv[1])[:4]
        return (total or 0) / n, ", ".join(f"{k} {c / n:.2f}" for k, c in top)

    def redis_get(self, conns):
        n = 100_000
        cluster = ["--cluster"] if self.topology == "cluster" else []
        text = subprocess.run(["redis-benchmark", *cluster, "-h", "127.0.0.1", "-p", str(self.redis_port), "-c", str(conns),
                               "-n", str(n), "-d", "1600", "-t", "get", "--csv"],
                              capture_output=True, text=True, check=True).stdout
        return float(re.search(r'"GET","([\d.]+)"', text).group(1))


def main():
    o = opts(sys.argv[1:])
    run = Run(o)
    try:
        run.start()
        rows = {}
        for r in range(run.rounds):
            order = ("before", "after") if r % 2 == 0 else ("after", "before")
            for conns in (32, 8):
                rows.setdefault(("redis", conns), []).append(run.redis_get(conns))
                for endpoint in ("introspect", "forward-auth"):
                    for v in order:
                        rows.setdefault((v, endpoint, conns), []).append(run.measure(v, endpoint, conns))
            print(f"round {r + 1}/{run.rounds} done", file=sys.stderr)
        sys_rows = {}
        for v in ("before", "after"):
            for endpoint in ("introspect", "forward-auth"):
                for conns in (32, 8):
                    sys_rows[(v, endpoint, conns)] = run.syscalls(v, endpoint, conns)
    finally:
        run.procs.stop()
    report(run, rows, sys_rows)


def report(run, rows, sys_rows):
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(f"`scripts/bench/ab.py`, {run.rounds} rounds interleaved (order alternating), wrk `-t2 -d{run.duration}s`,"
          f" `redis-benchmark -t get -d 1600 -n 100000` in each round; medians. {os.cpu_count()} CPUs, load"
          f" average at the end {load}; the machine was shared with other work.\n")
    redis = {"sentinel": "Redis master + replica + sentinel", "cluster": "Redis, 6 cluster nodes"}.get(
        run.topology, "Redis + replica" if run.replica else "Redis")
    print(f"Topology: {run.topology}" + (" with a replica" if run.replica else "") + ".\n")
    print(f"| build | endpoint | conns | req/s | × Redis GET | p99 ms | service CPU µs/req | {redis} CPU µs/req | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for conns in (32, 8):
        redis_rps = med(rows[("redis", conns)])
        for endpoint in ("introspect", "forward-auth"):
            for v in ("before", "after"):
                rs = rows[(v, endpoint, conns)]
                rps = med([x["rps"] for x in rs])
                print(f"| {v} | {endpoint} | {conns} | {rps:,.0f} | {rps / redis_rps:.2f}× |"
                      f" {med([x['p99_ms'] for x in rs]):.2f} | {med([x['cpu_us'] for x in rs]):.1f} |"
                      f" {med([x['redis_us'] for x in rs]):.1f} | {sum(x['errors'] for x in rs)} |")
        print(f"| – | Redis GET | {conns} | {redis_rps:,.0f} | 1.00× | | | | |")
    print("\n| build | endpoint | conns | system calls / request (`strace -c -f`, 2 s) | most frequent, per request |")
    print("|---|---|---:|---:|---|")
    for (v, endpoint, conns), (total, top) in sorted(sys_rows.items(), key=lambda kv: (-kv[0][2], kv[0][1], kv[0][0])):
        print(f"| {v} | {endpoint} | {conns} | {total:.2f} | {top} |")


if __name__ == "__main__":
    main()
