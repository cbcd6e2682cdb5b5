#!/usr/bin/env python3
"""Every dashboard query and alert expression of the chart, evaluated by a real Prometheus
scraping the real service.

Starts Redis, the test OpenID Provider (tests/provider/provider.mjs), the service (the
debug binary: OIDC_SESSION_BIN, default $CARGO_TARGET_DIR/debug/oidc-session) and
Prometheus (Debian's package) scraping /metrics every second, with the chart's rules
loaded. Drives the service through a sign-in, a forward-auth burst, two refused refreshes,
a logout, two sign-ins that fail because the provider went down, and a Redis stop. Then
asks Prometheus' HTTP API for every panel query of the dashboard (Grafana's variables
resolved the way Grafana does, from label values) and every alert expression rendered with
its thresholds at 0, and fails on any query that errors or returns no series, so a metric
or label renamed in the service breaks the build.

    python3 helm/tests/live_prometheus.py      (run by .ci/deploy-checks)
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

import chart_tool
import observability as obs

sys.path.insert(0, str(chart_tool.REPO / "scripts" / "bench"))
import benchlib as bench  # noqa: E402  (the browser that fills the provider's forms)

SCRAPE = 1  # seconds, scrape and rule evaluation
NO_REDIRECTS = urllib.request.build_opener(bench.NoRedirect())
JOB, NAMESPACE = "oidc-session", "auth"


def log(msg: str) -> None:
    print(f"[live-prometheus {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def http(url: str, method: str = "GET", headers: dict | None = None, body: bytes | None = None):
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=body)
    try:
        with NO_REDIRECTS.open(req, timeout=15) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_for(what: str, check, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} did not come up within {timeout} s")


class Processes:
    def __init__(self, scratch: pathlib.Path):
        self.scratch = scratch
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict | None = None, **kw) -> subprocess.Popen:
        logf = open(self.scratch / f"{name}.log", "wb")
        proc = subprocess.Popen(argv, env=env, stdout=kw.pop("stdout", logf), stderr=logf, **kw)
        self.procs[name] = proc
        return proc

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        for name in reversed(list(self.procs)):
            self.stop(name)

    def tail(self, name: str) -> str:
        return (self.scratch / f"{name}.log").read_text(errors="replace")[-3000:]


def start_provider(procs: Processes, public: str) -> str:
    config = {
        "port": 0,
        # Refresh tokens die after 2 s, so the provider refuses a later refresh.
        "refresh_token_ttl": 2,
        "clients": [{
            "client_id": "live", "token_endpoint_auth_method": "none",
            "redirect_uris": [f"{public}/auth/callback"],
            "post_logout_redirect_uris": [f"{public}/bye"],
        }],
    }
    env = dict(os.environ, TEST_OP_CONFIG=json.dumps(config))
    proc = procs.start("provider", ["node", str(chart_tool.REPO / "tests/provider/provider.mjs")],
                       env=env, stdout=subprocess.PIPE, stdin=subprocess.PIPE)
    line = proc.stdout.readline().decode().strip()
    if not line.startswith("READY "):
        raise SystemExit(f"the test provider did not start: {line!r}\n{procs.tail('provider')}")
    return line.split(" ", 1)[1]


def prometheus_config(scratch: pathlib.Path, internal: str) -> pathlib.Path:
    rules = scratch / "rules.yaml"
    rules.write_text(yaml.safe_dump(obs.prometheus_rule(fire_on_any=True)["spec"], sort_keys=False))
    config = {
        "global": {"scrape_interval": f"{SCRAPE}s", "evaluation_interval": f"{SCRAPE}s"},
        "rule_files": [str(rules)],
        "scrape_configs": [{
            "job_name": JOB,
            # The labels the Prometheus Operator puts on a ServiceMonitor's targets.
            "static_configs": [{"targets": [internal], "labels": {"namespace": NAMESPACE}}],
        }],
    }
    path = scratch / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def scenario(public: str, internal: str, procs: Processes) -> None:
    login = f"{public}/auth/login?return_to=/signed-in"
    signed_in = f"{public}/signed-in"

    def sign_in(user: str) -> str:
        jar, opener = bench.browser()
        bench.sign_in(opener, login, signed_in, user)
        return bench.cookie_value(jar, "oidc_session")

    def refresh(cookie: str) -> int:
        return http(f"{public}/auth/refresh", "POST", {"Cookie": f"oidc_session={cookie}", "Origin": public})[0]

    def forward_auth(cookie: str | None) -> int:
        headers = {"Cookie": f"oidc_session={cookie}"} if cookie else {}
        return http(f"{internal}/forward-auth", headers=headers)[0]

    def introspect(cookie: str) -> int:
        return http(f"{internal}/introspect", "POST", {"Content-Type": "application/json"},
                    json.dumps({"session": cookie}).encode())[0]

    log("sign-ins through the provider's forms")
    alice, bob, carol, dave = (sign_in(u) for u in ("alice", "bob", "carol", "dave"))
    refreshed_at = time.monotonic()

    log("forward-auth burst")
    statuses = [forward_auth(alice) for _ in range(300)] + [forward_auth(None) for _ in range(30)]
    assert statuses.count(200) == 300 and statuses.count(401) == 30, sorted(set(statuses))
    assert [introspect(alice) for _ in range(20)] == [200] * 20

    log("two refreshes the provider refuses (its refresh tokens live 2 s), two scrapes apart")
    time.sleep(max(0.0, refreshed_at + 3 - time.monotonic()))
    assert refresh(bob) == 401
    time.sleep(2.5 * SCRAPE)
    assert refresh(carol) == 401

    log("a logout")
    status, _ = http(f"{public}/auth/logout", "POST", {"Cookie": f"oidc_session={dave}", "Origin": public})
    assert status == 302, status

    log("two sign-ins reach the callback; the provider goes down before the code exchange")
    pending = []
    for user in ("erin", "frank"):
        _, opener = bench.browser()
        callback = bench.sign_in(opener, login, f"{public}/auth/callback?", user, stop_at_prefix=True)
        pending.append((opener, callback))
    procs.stop("provider")
    for opener, callback in pending:
        status, _, _ = bench.fetch(opener, callback)
        assert status >= 500, f"a callback with the provider down answered {status}"
        time.sleep(2.5 * SCRAPE)

    log("Redis goes down")
    procs.stop("redis")
    for _ in range(3):
        assert forward_auth(alice) == 503
        assert introspect(alice) == 503
        assert http(f"{internal}/readyz")[0] == 503
        time.sleep(1.5 * SCRAPE)
    time.sleep(3 * SCRAPE)  # the last counts scraped


class Prometheus:
    def __init__(self, url: str):
        self.url = url

    def api(self, path: str, **params) -> dict:
        query = urllib.parse.urlencode(params, doseq=True)
        status, body = http(f"{self.url}/api/v1/{path}?{query}")
        reply = json.loads(body)
        if status != 200 or reply.get("status") != "success":
            raise QueryFailed(f"{reply.get('errorType')}: {reply.get('error')}")
        return reply["data"]

    def query(self, expr: str) -> list[dict]:
        return self.api("query", query=expr)["result"]


class QueryFailed(Exception):
    pass


def grafana_variables(prom: Prometheus, dash: dict) -> dict[str, str]:
    """Each `label_values` variable resolved as Grafana does (all values, as a regex)."""
    values: dict[str, str] = {}
    for name, selector, label in obs.variable_queries(dash):
        for var, regex in values.items():
            selector = selector.replace(f"${var}", regex)
        found = prom.api(f"label/{label}/values", **{"match[]": selector})
        if not found:
            raise SystemExit(f"dashboard variable ${name}: label_values({selector}, {label}) found nothing")
        values[name] = "(" + "|".join(found) + ")"
    return values


def check_queries(prom: Prometheus, window: str) -> list[str]:
    dash = obs.dashboard()
    variables = grafana_variables(prom, dash)
    log(f"dashboard variables: {variables}")
    queries = []
    for title, expr in obs.panel_queries(dash):
        expr = expr.replace("$__rate_interval", window)
        for var, regex in variables.items():
            expr = expr.replace(f"${var}", regex)
        queries.append((f"panel {title!r}", expr))
    queries += [(f"alert {a['alert']}", a["expr"]) for a in obs.alerts(fire_on_any=True)]
    failures = []
    for what, expr in queries:
        try:
            result = prom.query(expr)
        except QueryFailed as e:
            failures.append(f"{what}: the query failed: {e}\n    {' '.join(expr.split())}")
            continue
        numbers = [float(r["value"][1]) for r in result]
        if not any(math.isfinite(v) for v in numbers):
            failures.append(f"{what}: no data ({len(result)} series, values {numbers})\n    {' '.join(expr.split())}")
        else:
            log(f"ok  {what}: {len(result)} series")
    return failures


def check_rules_evaluated(prom: Prometheus) -> list[str]:
    """Prometheus itself evaluated the rules file: every alert is pending (or firing)."""
    active = {a["labels"]["alertname"] for a in prom.api("alerts")["alerts"]}
    return [f"alert {a['alert']}: not active in Prometheus' own rule evaluation"
            for a in obs.alerts() if a["alert"] not in active]


def main() -> int:
    target_dir = os.environ.get("CARGO_TARGET_DIR") or str(chart_tool.REPO / "target")
    binary = os.environ.get("OIDC_SESSION_BIN") or f"{target_dir}/debug/oidc-session"
    for tool in ("prometheus", "redis-server", "node"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing")
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"no service binary at {binary} (cargo build, or set OIDC_SESSION_BIN)")
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="live-prometheus."))
    procs = Processes(scratch)
    try:
        redis_port, public_port, internal_port, prom_port = bench.free_ports(4)
        public, internal = f"http://127.0.0.1:{public_port}", f"http://127.0.0.1:{internal_port}"
        procs.start("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"])
        issuer = start_provider(procs, public)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OIDC_")}
        env.update(OIDC_ISSUER_URL=issuer, OIDC_CLIENT_ID="live", OIDC_PROMPT="consent",
                   OIDC_REDIRECT_URI=f"{public}/auth/callback", OIDC_POST_LOGOUT_REDIRECT_URI=f"{public}/bye",
                   OIDC_REDIS_URL=f"redis://127.0.0.1:{redis_port}", OIDC_LOG="warn",
                   OIDC_LISTEN_ADDR=f"127.0.0.1:{public_port}", OIDC_INTERNAL_LISTEN_ADDR=f"127.0.0.1:{internal_port}")
        procs.start("service", [binary], env=env)
        wait_for("the service (/readyz 200)", lambda: http(f"{internal}/readyz")[0] == 200)
        config = prometheus_config(scratch, f"127.0.0.1:{internal_port}")
        procs.start("prometheus", ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={scratch}/tsdb",
                                   f"--web.listen-address=127.0.0.1:{prom_port}"])
        prom = Prometheus(f"http://127.0.0.1:{prom_port}")
        wait_for("Prometheus (/-/ready)", lambda: http(f"{prom.url}/-/ready")[0] == 200)
        wait_for("the first scrape", lambda: prom.query('up{job="oidc-session"} == 1'))
        started = time.monotonic()

        scenario(public, internal, procs)

        # Rates over the whole run, as a dashboard looking at the last minutes would.
        window = f"{int(time.monotonic() - started) + 30}s"
        failures = check_queries(prom, window) + check_rules_evaluated(prom)
    except BaseException:
        for name in ("service", "provider", "prometheus"):
            if (scratch / f"{name}.log").exists():
                print(f"--- {name} log (tail) ---\n{procs.tail(name)}", file=sys.stderr)
        raise
    finally:
        procs.stop_all()
    shutil.rmtree(scratch, ignore_errors=True)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    log("every dashboard query and alert expression returned data")
    return 0


if __name__ == "__main__":
    sys.exit(main())
