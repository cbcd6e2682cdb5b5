"""One build, the default configuration next to the default plus one feature, rounds
interleaved: the benchmark rows of step-up, the identity assertion, bearer tokens, tracing
and anonymous PAR logins with private_key_jwt (docs/PERFORMANCE.md, "Features").

    python3 scripts/bench/features.py --bin BIN [--rounds 3] [--duration 5] [--keep yes]

Starts a throw-away redis-server, the test provider (tests/provider/provider.mjs, with an
API client and resource servers issuing JWT and opaque access tokens), an OTLP/HTTP sink
that counts what it receives, and five instances of the service on the same Redis (one
database each), every one with the default configuration plus:
  default    nothing
  assertion  OIDC_ASSERTION_KEY (a P-256 key)
  bearer     OIDC_BEARER_AUDIENCES and a client secret (for the provider's introspection)
  tracing    OTEL_EXPORTER_OTLP_ENDPOINT (the sink), OTEL_TRACES_SAMPLER=traceidratio, ratio 0.01
  par        OIDC_PAR=always, private_key_jwt with an RSA-2048 key
signs one user in to each, takes a JWT and an opaque access token from the provider's
client-credentials grant, then per round measures every row (order rotated between rounds)
and `redis-benchmark` GET. Per row: rate, p99, service CPU per request (/proc/<pid>/stat),
Redis commands per request (INFO commandstats) and, for opaque tokens, the provider's
introspection calls. After the rounds, as many rounds for the par instance: /introspect
alone, then /introspect while anonymous `GET /auth/login` runs at the same time on the same
instance.
Prints a Markdown report (medians of the rounds); `--keep yes` keeps the raw wrk output
and the logs and says where. Needs wrk, redis-server,
redis-benchmark, openssl, Node.js 20+ and `npm ci --prefix tests/provider`.
"""

import base64
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import (CLK_TCK, Processes, browser, cookie_value, free_ports, introspect_script, med, opts,  # noqa: E402
                      parse_wrk, redis_cmd, sign_in, tree_ticks, wait_http)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
INSTANCES = ("default", "assertion", "bearer", "tracing", "par")
API, OPAQUE_API = "https://api.example.test", "https://opaque.example.test"
CLI, CLI_SECRET, SECRET = "cli", "cli-secret-0123456789", "a-long-bench-client-secret"
# Anonymous sign-ins in flight: below the service's bound on provider calls (32), then above it.
LOGIN_CONNS = (8, 64)


class Sink(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that answers every export with an empty success."""
    exports = 0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Sink.exports += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def openssl_key(*args):
    return subprocess.run(["openssl", "genpkey", *args], capture_output=True, text=True, check=True).stdout


class Run:
    def __init__(self, o):
        self.dir = tempfile.mkdtemp(prefix="oidc-session-features.")
        self.procs = Processes(self.dir)
        self.duration = int(o.get("duration", "5"))
        self.rounds = int(o.get("rounds", "3"))
        self.bin = os.path.abspath(o["bin"])

    def start(self):
        ports = free_ports(2 + 2 * len(INSTANCES))
        self.redis_port, sink_port = ports[0], ports[1]
        redis = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port), "--save", "",
                 "--appendonly", "no", "--dir", self.dir]
        self.redis_pid = self.procs.spawn("redis", redis).pid
        sink = http.server.ThreadingHTTPServer(("127.0.0.1", sink_port), Sink)
        threading.Thread(target=sink.serve_forever, daemon=True).start()
        pub = {v: ports[2 + 2 * i] for i, v in enumerate(INSTANCES)}
        self.internal = {v: f"http://127.0.0.1:{ports[3 + 2 * i]}" for i, v in enumerate(INSTANCES)}
        clients = []
        for v in INSTANCES:
            client = {"client_id": f"bench-{v}", "token_endpoint_auth_method": "none",
                      "redirect_uris": [f"http://127.0.0.1:{pub[v]}/auth/callback"]}
            if v == "bearer":
                client.update(client_secret=SECRET, token_endpoint_auth_method="client_secret_basic")
            if v == "par":
                client.update(token_endpoint_auth_method="private_key_jwt",
                              jwks_uri=f"http://127.0.0.1:{pub[v]}/auth/jwks.json")
            clients.append(client)
        config = {"port": 0, "access_token_ttl": 3600, "clients": clients,
                  "extra_clients": [{"client_id": CLI, "client_secret": CLI_SECRET,
                                     "grant_types": ["client_credentials"], "response_types": [],
                                     "redirect_uris": []}],
                  "resource_servers": {API: "jwt", OPAQUE_API: "opaque"}}
        self.issuer = self.procs.provider(ROOT, config)
        extra = {
            "default": {},
            "assertion": {"OIDC_ASSERTION_KEY": openssl_key("-algorithm", "EC", "-pkeyopt",
                                                            "ec_paramgen_curve:P-256")},
            "bearer": {"OIDC_BEARER_AUDIENCES": f"{API}, {OPAQUE_API}", "OIDC_CLIENT_SECRET": SECRET},
            "tracing": {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}",
                        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                        "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.01"},
            "par": {"OIDC_PAR": "always", "OIDC_CLIENT_AUTH_METHOD": "private_key_jwt",
                    "OIDC_CLIENT_PRIVATE_KEY": openssl_key("-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")},
        }
        self.pids, self.cookies, self.scripts = {}, {}, {}
        for i, v in enumerate(INSTANCES):
            env = {k: x for k, x in os.environ.items() if not k.startswith(("OIDC_", "OTEL_"))}
            env.update(OIDC_ISSUER_URL=self.issuer, OIDC_CLIENT_ID=f"bench-{v}",
                       OIDC_REDIRECT_URI=f"http://127.0.0.1:{pub[v]}/auth/callback", OIDC_PROMPT="consent",
                       OIDC_REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/{i}",
                       OIDC_LISTEN_ADDR=f"127.0.0.1:{pub[v]}",
                       OIDC_INTERNAL_LISTEN_ADDR=self.internal[v].removeprefix("http://"),
                       OIDC_SESSION_ENCRYPTION_KEY=base64.b64encode(os.urandom(32)).decode(), **extra[v])
            self.pids[v] = self.procs.spawn("service-" + v, [self.bin], env).pid
            wait_http(self.internal[v] + "/readyz")
            jar, opener = browser()
            done = f"http://127.0.0.1:{pub[v]}/bench-signed-in"
            # With max_age the ID token carries `auth_time`, which the step-up row's rule needs.
            start = f"http://127.0.0.1:{pub[v]}/auth/login?return_to=/bench-signed-in&max_age=3600"
            sign_in(opener, start, done, "bench-user")
            self.cookies[v] = cookie_value(jar, "oidc_session")
            self.scripts[v] = introspect_script(self.dir, v, self.cookies[v])
        self.login_url = f"http://127.0.0.1:{pub['par']}/auth/login"
        self.tokens = {kind: self.client_credentials(resource) for kind, resource in (("jwt", API), ("opaque", OPAQUE_API))}
        if self.tokens["jwt"].count(".") != 2 or "." in self.tokens["opaque"]:
            raise SystemExit("the provider did not issue one JWT and one opaque access token")
        self.sink = Sink

    def client_credentials(self, resource):
        body = urllib.parse.urlencode({"grant_type": "client_credentials", "resource": resource, "scope": "api"}).encode()
        auth = base64.b64encode(f"{CLI}:{CLI_SECRET}".encode()).decode()
        request = urllib.request.Request(self.issuer + "/token", data=body, headers={"Authorization": "Basic " + auth})
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.load(resp)["access_token"]

    def rows(self):
        """Row name -> (instance, wrk arguments after the connection options)."""
        fa = lambda v, query="": self.internal[v] + "/forward-auth" + query  # noqa: E731
        cookie = lambda v: ["-H", f"Cookie: oidc_session={self.cookies[v]}"]  # noqa: E731
        introspect = lambda v: ["-s", self.scripts[v], self.internal[v] + "/introspect"]  # noqa: E731
        bearer = lambda kind: ["-H", f"Authorization: Bearer {self.tokens[kind]}", "-H", "Accept: application/json"]  # noqa: E731
        return {
            "forward-auth, default": ("default", cookie("default") + [fa("default")]),
            "forward-auth, step-up rule `max_age=3600` (passes)": ("default", cookie("default") + [fa("default", "?max_age=3600")]),
            "introspect, default": ("default", introspect("default")),
            "forward-auth, assertion key (ES256)": ("assertion", cookie("assertion") + [fa("assertion")]),
            "forward-auth, JWT bearer token": ("bearer", bearer("jwt") + [fa("bearer")]),
            "forward-auth, opaque bearer token": ("bearer", bearer("opaque") + [fa("bearer")]),
            "forward-auth, tracing on (ratio 0.01)": ("tracing", cookie("tracing") + [fa("tracing")]),
            "introspect, tracing on (ratio 0.01)": ("tracing", introspect("tracing")),
        }

    def commands(self):
        stats = redis_cmd(f"127.0.0.1:{self.redis_port}", "INFO", "commandstats")
        return sum(int(m) for m in re.findall(r"^cmdstat_(?!info)\w+:calls=(\d+)", stats, re.M))

    def provider_introspections(self):
        with urllib.request.urlopen(self.issuer + "/test/stats", timeout=10) as resp:
            return json.load(resp)["introspection_requests"]

    def wrk(self, args, conns, seconds, name="wrk"):
        out = os.path.join(self.dir, name + ".txt")
        with open(out, "w") as f:
            subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency"] + args, stdout=f, check=True)
        return parse_wrk(out)

    def measure(self, v, args, conns=32, name="wrk"):
        roots = {"s": self.pids[v], "redis": self.redis_pid}
        ticks, commands, calls, exports = tree_ticks(roots), self.commands(), self.provider_introspections(), self.sink.exports
        result = self.wrk(args, conns, self.duration, name)
        after = tree_ticks(roots)
        n = max(result["requests"], 1)
        result["cpu_us"] = (after["s"] - ticks["s"]) / CLK_TCK * 1e6 / n
        result["redis_us"] = (after["redis"] - ticks["redis"]) / CLK_TCK * 1e6 / n
        result["commands"] = (self.commands() - commands) / n
        result["provider_calls"] = self.provider_introspections() - calls
        result["exports"] = self.sink.exports - exports
        return result

    def logins_with_introspection(self, conns):
        """wrk on anonymous /auth/login and on /introspect of the par instance at once."""
        logins_out = os.path.join(self.dir, f"logins-{conns}.txt")
        with open(logins_out, "w") as f:
            logins = subprocess.Popen(["wrk", "-t1", f"-c{conns}", f"-d{self.duration}s", "--latency",
                                       self.login_url], stdout=f)
            introspect = self.measure("par", ["-s", self.scripts["par"],
                                              self.internal["par"] + "/introspect"])
            logins.wait()
        return parse_wrk(logins_out), introspect

    def redis_get(self, conns=32):
        text = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(self.redis_port), "-c", str(conns),
                               "-n", "100000", "-d", "1600", "-t", "get", "--csv"],
                              capture_output=True, text=True, check=True).stdout
        return float(re.search(r'"GET","([\d.]+)"', text).group(1))


def main():
    o = opts(sys.argv[1:])
    run = Run(o)
    results, redis = {}, []
    par = {"alone": [], **{(kind, c): [] for kind in ("logins", "with") for c in LOGIN_CONNS}}
    try:
        run.start()
        rows = run.rows()
        names = list(rows)
        for r in range(run.rounds):
            redis.append(run.redis_get())
            for name in names[r % len(names):] + names[:r % len(names)]:
                v, args = rows[name]
                slug = re.sub(r"\W+", "-", name).strip("-")
                results.setdefault(name, []).append(run.measure(v, args, name=f"{slug}-{r + 1}"))
            print(f"round {r + 1}/{run.rounds} done", file=sys.stderr)
        # Last: thousands of anonymous logins fill the test provider's in-memory store, whose
        # LRU then forgets the opaque token the bearer rows introspect.
        for r in range(run.rounds):
            par["alone"].append(run.measure("par", ["-s", run.scripts["par"],
                                                    run.internal["par"] + "/introspect"]))
            for conns in LOGIN_CONNS:
                logins, with_logins = run.logins_with_introspection(conns)
                par[("logins", conns)].append(logins)
                par[("with", conns)].append(with_logins)
            print(f"logins round {r + 1}/{run.rounds} done", file=sys.stderr)
    finally:
        run.procs.stop()
        if o.get("keep") == "yes":
            print(f"raw wrk output and logs: {run.dir}", file=sys.stderr)
        else:
            shutil.rmtree(run.dir, ignore_errors=True)
    report(run, results, redis, par)


def errors(rs):
    """Failed responses: non-2xx/3xx statuses and socket errors, when any."""
    non_2xx, socket = sum(x["non_2xx"] for x in rs), sum(x["socket_errors"] for x in rs)
    return "0" if non_2xx + socket == 0 else f"{non_2xx} non-2xx, {socket} socket"


def report(run, results, redis, par):
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    redis_rps = med(redis)
    base = med([x["rps"] for x in results["forward-auth, default"]])
    print(f"`scripts/bench/features.py`, {run.rounds} rounds (row order rotated), wrk `-t2 -c32 -d{run.duration}s`,"
          f" `redis-benchmark -t get -c 32 -d 1600 -n 100000` once a round; medians. {os.cpu_count()} CPUs,"
          f" load average at the end {load}.\n")
    print("| row | req/s | × forward-auth default | × Redis GET | p99 ms | service CPU µs/req | Redis commands/req |"
          " provider calls | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, rs in results.items():
        rps = med([x["rps"] for x in rs])
        calls = sum(x["provider_calls"] for x in rs)
        print(f"| {name} | {rps:,.0f} | {rps / base:.2f}× | {rps / redis_rps:.2f}× | {med([x['p99_ms'] for x in rs]):.2f} |"
              f" {med([x['cpu_us'] for x in rs]):.1f} | {med([x['commands'] for x in rs]):.2f} |"
              f" {calls if 'opaque' in name else ''} | {errors(rs)} |")
    print(f"| Redis GET (`redis-benchmark`, 32 connections) | {redis_rps:,.0f} | | 1.00× | | | | | |")
    exports = sum(x["exports"] for name, rs in results.items() if "tracing" in name for x in rs)
    opaque = sum(x["requests"] for x in results["forward-auth, opaque bearer token"])
    print(f"\nOpaque token: {opaque:,} requests with one token over {run.rounds} × {run.duration} s, "
          f"{sum(x['provider_calls'] for x in results['forward-auth, opaque bearer token'])} introspection calls at the"
          f" provider during them (the first use of the token included). Tracing: {exports} OTLP exports"
          " received during the tracing rows.\n")
    alone = par["alone"]
    a = med([x["rps"] for x in alone])
    print("| par instance (`OIDC_PAR=always`, private_key_jwt RSA-2048) | req/s | p99 ms | service CPU µs/req | errors |")
    print("|---|---:|---:|---:|---:|")
    print(f"| /introspect alone (32 connections) | {a:,.0f} | {med([x['p99_ms'] for x in alone]):.2f} |"
          f" {med([x['cpu_us'] for x in alone]):.1f} | {errors(alone)} |")
    for conns in LOGIN_CONNS:
        logins, with_logins = par[("logins", conns)], par[("with", conns)]
        w = med([x["rps"] for x in with_logins])
        ok = med([(x["requests"] - x["non_2xx"]) / run.duration for x in logins])
        refused = med([x["non_2xx"] / run.duration for x in logins])
        print(f"| /introspect while anonymous logins run on {conns} connections | {w:,.0f} ({w / a:.2f}×) |"
              f" {med([x['p99_ms'] for x in with_logins]):.2f} | | {errors(with_logins)} |")
        print(f"| … anonymous `GET /auth/login` on {conns} connections: 302s per second | {ok:,.0f} |"
              f" {med([x['p99_ms'] for x in logins]):.2f} | | |")
        print(f"| … answered 503 (`Retry-After`: more than 32 sign-ins waiting on the provider), per second |"
              f" {refused:,.0f} | | | |")


if __name__ == "__main__":
    main()
