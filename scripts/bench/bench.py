#!/usr/bin/env python3
"""Helpers for scripts/bench/run.sh (Python 3 standard library only).

Subcommands:
  free-ports N                      N free TCP ports on 127.0.0.1
  signin --start URL --done URL --cookie NAME [--user U]
                                    signs in like a browser (the test provider's dev login
                                    and consent forms, or the mini-OP's instant redirect) and
                                    prints the value of cookie NAME
  logins --start URL --done URL --cookie NAME --count N --user-prefix P --pid PID
         --redis HOST:PORT[/DB] --out FILE
                                    N complete logins, each with a fresh cookie jar; records
                                    the service's CPU time (utime+stime of PID) and Redis
                                    used_memory before and after
  refused-logout-token --jwks URL --iss ISS --aud AUD
                                    a well-formed logout token with the provider's real kid
                                    and a wrong signature (refused at the signature check)
  kc-record --redis HOST:PORT/DB --prefix P --logins FILE --out FILE
                                    sizes of one stored session (record, sealed tokens)
  meta --repo DIR --binary PATH --command CMD --out FILE …
                                    machine, date, versions
  redis-info HOST:PORT[/DB] KEY     one INFO field
  render --dir DIR --out FILE       results of a run -> docs/PERFORMANCE.md
"""

import base64
import html.parser
import http.cookiejar
import json
import os
import re
import socket
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- a browser, enough for the dev login/consent forms ---------------------------------


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Forms(html.parser.HTMLParser):
    """Every <form>: its action and its named inputs."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "fields": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value") or ""


def browser():
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect())
    return jar, opener


def fetch(opener, url, form=None):
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    try:
        # A browser's navigation headers: mod_auth_openidc answers 401 instead of redirecting
        # to the provider when a request does not look like a browser's.
        headers = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                   "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) oidc-session-bench"}
        resp = opener.open(urllib.request.Request(url, data=data, headers=headers), timeout=30)
    except urllib.error.HTTPError as e:
        resp = e
    body = resp.read().decode("utf-8", "replace")
    return resp.status if hasattr(resp, "status") else resp.code, resp.headers, body


def sign_in(opener, start, done, user):
    """Follows redirects from `start`, fills the provider's login and consent forms, and
    stops at the redirect to `done` (not fetched). Returns the trail on failure."""
    url, form, trail = start, None, []
    for _ in range(25):
        trail.append(("POST " if form is not None else "GET ") + url)
        status, headers, body = fetch(opener, url, form)
        if 300 <= status < 400:
            location = urllib.parse.urljoin(url, headers["Location"])
            if location == done:
                return
            url, form = location, None
            continue
        if status != 200:
            raise SystemExit(f"sign-in: {status} at {url}\n  " + "\n  ".join(trail) + f"\n{body[:800]}")
        parser = Forms()
        parser.feed(body)
        page = next((f for f in parser.forms if "prompt" in f["fields"]), None)
        if page is None:
            raise SystemExit(f"sign-in: no login/consent form at {url}\n  " + "\n  ".join(trail) + f"\n{body[:800]}")
        form = dict(page["fields"])
        if form["prompt"] == "login":
            form.update(login=user, password="x")
        url = urllib.parse.urljoin(url, page["action"])
    raise SystemExit("sign-in: no redirect to %s after 25 steps:\n  %s" % (done, "\n  ".join(trail)))


def cookie_value(jar, name):
    values = [c.value for c in jar if c.name == name]
    if not values:
        raise SystemExit(f"sign-in: no cookie {name} was set (cookies: {[c.name for c in jar]})")
    return values[-1]


# --- Redis (RESP, enough for INFO) ----------------------------------------------------


def redis_cmd(addr, *args):
    hostport, _, db = addr.partition("/")
    host, port = hostport.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        f = s.makefile("rb")

        def send(*a):
            s.sendall(b"".join([b"*%d\r\n" % len(a)] + [b"$%d\r\n%s\r\n" % (len(x), x) for x in (str(v).encode() for v in a)]))
            return read()

        def read():
            line = f.readline().rstrip(b"\r\n")
            kind, rest = line[:1], line[1:]
            if kind == b"+":
                return rest.decode()
            if kind == b"-":
                raise RuntimeError(rest.decode())
            if kind == b":":
                return int(rest)
            if kind == b"$":
                n = int(rest)
                if n < 0:
                    return None
                data = f.read(n + 2)[:-2]
                return data.decode("utf-8", "replace")
            if kind == b"*":
                return [read() for _ in range(int(rest))]
            raise RuntimeError(f"unexpected reply {line!r}")

        if db:
            send("SELECT", db)
        return send(*args)


def redis_info(addr, field):
    for line in redis_cmd(addr, "INFO", "all").splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1]
    raise SystemExit(f"no INFO field {field}")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)


# --- subcommands ------------------------------------------------------------------------


def cmd_free_ports(n):
    socks = []
    for _ in range(int(n)):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


def opts(argv):
    out = {}
    it = iter(argv)
    for k in it:
        if not k.startswith("--"):
            raise SystemExit(f"unexpected argument {k}")
        out[k[2:]] = next(it)
    return out


def cmd_signin(argv):
    o = opts(argv)
    jar, opener = browser()
    sign_in(opener, o["start"], o["done"], o.get("user", "bench"))
    print(cookie_value(jar, o["cookie"]))


def cmd_logins(argv):
    o = opts(argv)
    count, pid, redis = int(o["count"]), o["pid"], o["redis"]
    time.sleep(0.5)
    mem_before = int(redis_info(redis, "used_memory"))
    keys_before = int(redis_cmd(redis, "DBSIZE"))
    cpu_before = cpu_ticks(pid)
    wall = time.monotonic()
    for i in range(count):
        jar, opener = browser()
        sign_in(opener, o["start"], o["done"], f"{o['user-prefix']}{i:05d}")
        cookie_value(jar, o["cookie"])
    wall = time.monotonic() - wall
    cpu = cpu_ticks(pid) - cpu_before
    time.sleep(0.5)
    mem_after = int(redis_info(redis, "used_memory"))
    keys_after = int(redis_cmd(redis, "DBSIZE"))
    result = {
        "count": count,
        "wall_s": wall,
        "cpu_ticks": cpu,
        "clk_tck": CLK_TCK,
        "cpu_ms_per_login": cpu * 1000 / CLK_TCK / count,
        "used_memory_before": mem_before,
        "used_memory_after": mem_after,
        "bytes_per_session": (mem_after - mem_before) / count,
        "keys_per_session": (keys_after - keys_before) / count,
    }
    with open(o["out"], "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result))


def cmd_refused_logout_token(argv):
    o = opts(argv)
    jwks = json.load(urllib.request.urlopen(o["jwks"], timeout=10))
    kid = next(k["kid"] for k in jwks["keys"] if k.get("alg", "RS256") == "RS256")
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    now = int(time.time())
    header = {"alg": "RS256", "typ": "logout+jwt", "kid": kid}
    claims = {
        "iss": o["iss"], "aud": o["aud"], "iat": now, "exp": now + 3600, "jti": str(uuid.uuid4()),
        "sub": str(uuid.uuid4()), "sid": str(uuid.uuid4()),
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    }
    sig = os.urandom(256)  # RS256 with a 2048-bit key: a signature of the right length, wrong
    print(".".join([b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(sig)]))


def cmd_kc_record(argv):
    """One Keycloak-sized session as stored: its record's size and its sealed tokens' size."""
    o = opts(argv)
    redis, prefix = o["redis"], o["prefix"]
    cursor, key = "0", None
    while key is None:
        cursor, keys = redis_cmd(redis, "SCAN", cursor, "MATCH", f"{prefix}session:*", "COUNT", "1000")
        key = next((k for k in keys if redis_cmd(redis, "TYPE", k) == "hash"), None)
        if cursor == "0":
            break
    if key is None:
        raise SystemExit(f"no session hash under {prefix}session:* in {redis}")
    fields = redis_cmd(redis, "HGETALL", key)
    fields = dict(zip(fields[0::2], fields[1::2]))
    raw = max(fields.values(), key=len)  # the record (JSON); the other field is the expiry
    sealed = None
    try:
        tokens = json.loads(raw).get("tokens")
        if isinstance(tokens, dict) and isinstance(tokens.get("sealed"), str):
            sealed = len(tokens["sealed"])
    except ValueError:
        pass
    logins = json.load(open(o["logins"]))
    result = {
        "record_bytes": len(raw.encode()),
        "sealed_tokens_bytes": sealed,
        "memory_usage_session": redis_cmd(redis, "MEMORY", "USAGE", key),
        "keys_per_session": logins["keys_per_session"],
    }
    with open(o["out"], "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result))


def first_line(cmd):
    import subprocess

    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


def cmd_meta(argv):
    import datetime
    import hashlib
    import platform
    import subprocess

    o = opts(argv)
    model = "?"
    for line in first_line(["sh", "-c", "lscpu | grep -m1 '^Model name'"]).splitlines():
        model = line.split(":", 1)[1].strip()
    mem_kb = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal:"))
    repo = o["repo"]
    rev = first_line(["git", "-C", repo, "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    with open(o["binary"], "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    built = datetime.datetime.fromtimestamp(os.path.getmtime(o["binary"]), datetime.timezone.utc)
    if o.get("built-from"):
        source = o["built-from"]
    else:
        source = f"commit {rev}" + (" with uncommitted changes" if dirty else "")
    modver = first_line(["dpkg-query", "-W", "-f", "${Version}", "libapache2-mod-auth-openidc"])
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": first_line(["nproc"]),
        "cpu_model": model,
        "mem_total": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "kernel": f"Linux {platform.release()}",
        "loadavg": " ".join(open("/proc/loadavg").read().split()[:3]),
        "command": o["command"],
        "service_rev": source,
        "binary": f"{o['binary']} (sha256 {digest}…, built {built:%Y-%m-%d %H:%M} UTC)",
        "tools": "; ".join([
            first_line(["wrk", "-v"]).split(" Copyright")[0],
            first_line(["redis-server", "--version"]).split(" sha=")[0],
            first_line(["apache2", "-v"]).replace("Server version: ", ""),
            f"mod_auth_openidc {modver}",
            f"Node.js {first_line(['node', '--version'])}",
        ]),
    }
    for k in ("mode", "rounds", "wrk_duration", "bcl_duration", "redis_n"):
        meta[k] = o[k.replace("_", "-")]
    with open(o["out"], "w") as f:
        json.dump(meta, f, indent=1)


# --- parsing tool output ----------------------------------------------------------------


def ms(value):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    n, unit = float(m.group(1)), m.group(2)
    return n * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def parse_wrk(path):
    text = open(path).read()
    out = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))}
    for pct in ("50", "99"):
        out[f"p{pct}_ms"] = ms(re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M).group(1))
    m = re.search(r"(\d+) requests in ([\d.]+\w+)", text)
    out["requests"] = int(m.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = sum(int(x) for x in sock.groups()) if sock else 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    out["errors"] = out["socket_errors"] + out["non_2xx"]
    return out


def parse_redis_benchmark(path):
    rows = {}
    lines = [l for l in open(path).read().splitlines() if l.startswith('"')]
    header = [h.strip('"') for h in lines[0].split(",")]
    for line in lines[1:]:
        cells = [c.strip('"') for c in line.split(",")]
        row = dict(zip(header, cells))
        rows[row["test"]] = {
            "rps": float(row["rps"]),
            "p50_ms": float(row["p50_latency_ms"]),
            "p99_ms": float(row["p99_latency_ms"]),
        }
    return rows


def rss_kb(path):
    if not os.path.exists(path):
        return None
    m = re.search(r"(\d+)", open(path).read())
    return int(m.group(1)) if m else None


# --- the report ---------------------------------------------------------------------------


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_int(v):
    return "–" if v is None else f"{v:,.0f}".replace(",", " ")


def fmt_ms(v):
    return "–" if v is None else f"{v:.2f} ms"


def fmt_x(v):
    return "–" if v is None else f"{v:.2f}×"


def fmt_kb(b):
    return "–" if b is None else f"{b / 1024:.2f} KB"


def fmt_mb(kb):
    return "–" if kb is None else f"{kb / 1024:.1f} MB"


def cmd_render(argv):
    o = opts(argv)
    d = o["dir"]
    meta = json.load(open(os.path.join(d, "meta.json")))
    rounds = int(meta["rounds"])

    runs = {name: [] for name in ("introspect", "forward_auth", "apache", "bcl_valid", "bcl_refused")}
    redis_rows = []
    for r in range(1, rounds + 1):
        for name in runs:
            runs[name].append(parse_wrk(os.path.join(d, f"round{r}-{name}.txt")))
        redis_rows.append(parse_redis_benchmark(os.path.join(d, f"round{r}-redis.csv")))

    redis_get = [row["GET"]["rps"] for row in redis_rows]
    redis_set = [row["SET"]["rps"] for row in redis_rows]

    def summary(name):
        rs = runs[name]
        return {
            "rps": med([x["rps"] for x in rs]),
            "p50": med([x["p50_ms"] for x in rs]),
            "p99": med([x["p99_ms"] for x in rs]),
            "errors": sum(x["errors"] for x in rs),
            "non_2xx": sum(x["non_2xx"] for x in rs),
            "socket_errors": sum(x["socket_errors"] for x in rs),
            "requests": sum(x["requests"] for x in rs),
            "ratio_redis": med([x["rps"] / g for x, g in zip(rs, redis_get)]),
        }

    s = {name: summary(name) for name in runs}
    apache_ratio = {
        name: med([x["rps"] / a["rps"] for x, a in zip(runs[name], runs["apache"])])
        for name in ("introspect", "forward_auth")
    }

    logins_a = json.load(open(os.path.join(d, "logins-test-provider.json")))
    logins_kc = json.load(open(os.path.join(d, "logins-keycloak-sized.json")))
    sizes = json.load(open(os.path.join(d, "kc-token-sizes.json")))
    record = json.load(open(os.path.join(d, "kc-record.json")))
    idle_rss = rss_kb(os.path.join(d, "rss-idle.txt"))
    load_rss = [rss_kb(os.path.join(d, f"round{r}-{n}-rss.txt")) for r in range(1, rounds + 1) for n in ("introspect", "forward_auth")]
    load_rss_max = max([v for v in load_rss if v is not None], default=None)
    hwm = rss_kb(os.path.join(d, "rss-hwm.txt"))
    time_v = {}
    tv_path = os.path.join(d, "service-time-v.txt")
    if os.path.exists(tv_path):
        for line in open(tv_path):
            k, _, v = line.strip().partition(": ")
            time_v[k] = v

    per_session_kc = logins_kc["bytes_per_session"]
    per_session_tp = logins_a["bytes_per_session"]

    def verdict(ok):
        return "**met**" if ok else "**not met**"

    targets = []
    for name, label in (("introspect", "`POST /introspect`"), ("forward_auth", "`GET /forward-auth`")):
        x = s[name]
        targets.append((f"{label} rate ≥ 0.5× Redis GET", fmt_x(x["ratio_redis"]), verdict(x["ratio_redis"] >= 0.5)))
        targets.append((f"{label} p99 ≤ 2.5 ms", fmt_ms(x["p99"]), verdict(x["p99"] <= 2.5)))
        targets.append((f"{label} errors = 0", str(x["errors"]), verdict(x["errors"] == 0)))
        targets.append((f"{label} ≥ 10× mod_auth_openidc", fmt_x(apache_ratio[name]), verdict(apache_ratio[name] >= 10)))
    targets.append(("Idle RSS ≤ 20 MB", fmt_mb(idle_rss), verdict(idle_rss is not None and idle_rss <= 20 * 1024)))
    targets.append(("Redis per session ≤ 3 KB (encrypted, Keycloak-sized tokens)", fmt_kb(per_session_kc), verdict(per_session_kc <= 3 * 1024)))

    tokens_total = sizes["id_token"] + sizes["access_token"] + sizes["refresh_token"]
    lines = []
    w = lines.append
    w("# Performance")
    w("")
    if meta.get("mode") == "smoke":
        w("**Smoke run** (`--smoke`): tiny durations and counts to check that every step works;")
        w("the numbers below mean nothing.")
        w("")
    w("Generated by `scripts/bench/run.sh` — do not edit by hand; rerun the script to regenerate.")
    w("Ratios, not absolute times, are the targets (issue #7): everything below ran on one machine,")
    w("in one run, with the load generator on the same cores, rounds interleaved")
    w(f"(service, Redis, Apache, back-channel; {rounds} rounds), medians reported.")
    w("")
    w(f"- **Date:** {meta['date']}")
    w(f"- **Machine:** {meta['cpu_model']}, {meta['nproc']} CPUs (`nproc`), {meta['mem_total']} RAM; {meta['kernel']}")
    w(f"- **Load average when the run started:** {meta['loadavg']}")
    w(f"- **Command:** `{meta['command']}`")
    w(f"- **Service:** {meta['service_rev']}; binary `{meta['binary']}`")
    w(f"- **Tools:** {meta['tools']}")
    w(f"- **Settings:** wrk `-t2 -c32 -d{meta['wrk_duration']} --latency`; back-channel runs `-d{meta['bcl_duration']}`;"
      f" `redis-benchmark -t set,get -d 1600 -c 32 -n {meta['redis_n']}`; {logins_a['count']} logins for CPU,"
      f" {logins_kc['count']} for memory")
    w("")
    w("## Targets")
    w("")
    w("| target | measured (median) | |")
    w("|---|---|---|")
    for t in targets:
        w(f"| {t[0]} | {t[1]} | {t[2]} |")
    w("")
    w("## Hot path: 32 connections")
    w("")
    w("| | requests/s | p50 | p99 | errors | × Redis GET |")
    w("|---|---:|---:|---:|---:|---:|")
    for name, label in (("introspect", "`POST /introspect` (JSON body)"), ("forward_auth", "`GET /forward-auth` (cookie)"),
                        ("apache", "Apache + mod_auth_openidc, authenticated `GET`")):
        x = s[name]
        w(f"| {label} | {fmt_int(x['rps'])} | {fmt_ms(x['p50'])} | {fmt_ms(x['p99'])} | {x['errors']} | {fmt_x(x['ratio_redis'])} |")
    w(f"| `redis-benchmark` GET, 1600-byte value | {fmt_int(med(redis_get))} | {fmt_ms(med([r['GET']['p50_ms'] for r in redis_rows]))} |"
      f" {fmt_ms(med([r['GET']['p99_ms'] for r in redis_rows]))} | – | 1.00× |")
    w(f"| `redis-benchmark` SET, 1600-byte value | {fmt_int(med(redis_set))} | {fmt_ms(med([r['SET']['p50_ms'] for r in redis_rows]))} |"
      f" {fmt_ms(med([r['SET']['p99_ms'] for r in redis_rows]))} | – | – |")
    w("")
    w(f"`/introspect` is {fmt_x(apache_ratio['introspect'])} and `/forward-auth` {fmt_x(apache_ratio['forward_auth'])}"
      " mod_auth_openidc's authenticated-request rate (median of the per-round ratios).")
    w("")
    w("Per round (requests/s; the ratio columns use the Redis GET of the same round):")
    w("")
    w("| round | /introspect | /forward-auth | Apache | Redis GET | Redis SET | back-channel valid | back-channel refused | load average after |")
    w("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in range(rounds):
        la = os.path.join(d, f"round{r + 1}-loadavg.txt")
        la = open(la).read().strip() if os.path.exists(la) else "?"
        w(f"| {r + 1} | {fmt_int(runs['introspect'][r]['rps'])} | {fmt_int(runs['forward_auth'][r]['rps'])} |"
          f" {fmt_int(runs['apache'][r]['rps'])} | {fmt_int(redis_get[r])} | {fmt_int(redis_set[r])} |"
          f" {fmt_int(runs['bcl_valid'][r]['rps'])} | {fmt_int(runs['bcl_refused'][r]['rps'])} | {la} |")
    w("")
    w("## Back-channel logout")
    w("")
    w("| logout tokens, 32 connections | per second | p50 | p99 | unexpected answers |")
    w("|---|---:|---:|---:|---:|")
    v, rf = s["bcl_valid"], s["bcl_refused"]
    w(f"| valid (RS256, Keycloak-shaped, each `jti` once) → 200 | {fmt_int(v['rps'])} | {fmt_ms(v['p50'])} | {fmt_ms(v['p99'])} | {v['errors']} |")
    w(f"| refused at the signature check → 400 | {fmt_int(rf['rps'])} | {fmt_ms(rf['p50'])} | {fmt_ms(rf['p99'])} |"
      f" {rf['socket_errors'] + (rf['requests'] - rf['non_2xx'])} |")
    w("")
    w("Valid tokens come from `scripts/bench/mini-op.mjs`, a minimal provider whose signing key is a file,")
    w("because the test provider never exports its key. A second instance of the service runs against it;")
    w("it fetches that provider's JWKS like any other and verifies each token fully (signature, `iss`,")
    w("`aud`, `iat`/`exp`, `events`, no `nonce`), records its `jti` in Redis and looks its `sid` up.")
    w("The `sid`s name no live session, so no session is deleted: this is the rate of verification plus")
    w("the two Redis round trips, not of session deletion. Every round uses the same pre-signed tokens")
    w("and starts with an emptied Redis database for that instance, so no token is a replay;")
    w("an unexpected answer (a replay's 400, a socket error) would be counted above. Refused tokens carry")
    w("the real provider's `kid` and a random signature, and go to the main instance.")
    w("")
    w("## Login, memory")
    w("")
    w("| | measured |")
    w("|---|---:|")
    w(f"| service CPU per complete login (`/auth/login` + `/auth/callback`, test provider) | {logins_a['cpu_ms_per_login']:.2f} ms |")
    w(f"| service CPU per complete login, Keycloak-sized tokens (mini-OP) | {logins_kc['cpu_ms_per_login']:.2f} ms |")
    w(f"| idle RSS (after start and one sign-in) | {fmt_mb(idle_rss)} |")
    w(f"| RSS under load (highest sample during the /introspect and /forward-auth runs) | {fmt_mb(load_rss_max)} |")
    w(f"| peak RSS over the whole run (VmHWM) | {fmt_mb(hwm)} |")
    if time_v:
        w(f"| `/usr/bin/time -v` on the service: maximum RSS; user + system CPU over the run | {fmt_mb(int(time_v.get('Maximum resident set size (kbytes)', '0')))};"
          f" {float(time_v.get('User time (seconds)', 0)) + float(time_v.get('System time (seconds)', 0)):.1f} s |")
    w(f"| Redis per session, Keycloak-sized tokens, encrypted (`used_memory` delta / {logins_kc['count']}) | {fmt_kb(per_session_kc)} |")
    w(f"| Redis per session, the test provider's tokens, encrypted (`used_memory` delta / {logins_a['count']}) | {fmt_kb(per_session_tp)} |")
    w("")
    w(f"Keycloak-sized tokens (issued by the mini-OP in Keycloak 24–26's shapes, realm user with the default")
    w(f"client scopes): ID token {sizes['id_token']} B, access token {sizes['access_token']} B, refresh (offline) token")
    w(f"{sizes['refresh_token']} B — {tokens_total} B together. One such session in Redis:"
      f" {record['keys_per_session']:.0f} keys;"
      f" the session hash's record `v` is {record['record_bytes']} B, of which the sealed tokens are"
      f" {record['sealed_tokens_bytes']} B (XChaCha20-Poly1305 + base64url of the tokens' JSON) and the plain"
      f" identity and claims the rest; `MEMORY USAGE` of the session key is {record['memory_usage_session']} B, and the"
      f" other {per_session_kc - record['memory_usage_session']:.0f} B per session are the `sid`/`sub` index sets, the"
      f" expiry-index entry and Redis' per-key overhead.")
    w("CPU per login is utime + stime of the service process (`/proc/<pid>/stat`) over all logins, divided")
    w("by their number; the provider and the client driving the forms are other processes.")
    w("")
    notes = []
    for name, label in (("introspect", "/introspect"), ("forward_auth", "/forward-auth")):
        x = s[name]
        if x["ratio_redis"] < 0.5:
            notes.append(f"- `{label}` reached {fmt_x(x['ratio_redis'])} of the Redis GET rate, below 0.5×.")
        if x["p99"] > 2.5:
            notes.append(f"- `{label}` p99 was {fmt_ms(x['p99'])}, above 2.5 ms.")
        if x["errors"]:
            notes.append(f"- `{label}` had {x['errors']} errors ({x['socket_errors']} socket, {x['non_2xx']} non-2xx).")
        if apache_ratio[name] < 10:
            notes.append(f"- `{label}` is {fmt_x(apache_ratio[name])} mod_auth_openidc's rate, below 10×.")
    if idle_rss is None or idle_rss > 20 * 1024:
        notes.append(f"- Idle RSS was {fmt_mb(idle_rss)}, above 20 MB.")
    if per_session_kc > 3 * 1024:
        notes.append(
            f"- Redis per session is {fmt_kb(per_session_kc)} with Keycloak-sized tokens, above 3 KB. The three"
            f" tokens alone are {tokens_total} B ({tokens_total / 1024:.2f} KB) before encryption; sealed and"
            f" base64url-encoded they take {record['sealed_tokens_bytes']} B. Storing them encrypted and whole cannot"
            f" fit 3 KB; it would take compressing before sealing, or not storing the ID token (kept for"
            f" `id_token_hint` at logout). With the test provider's smaller, opaque access and refresh tokens a"
            f" session takes {fmt_kb(per_session_tp)}.")
    if v["errors"]:
        notes.append(f"- The valid back-channel run had {v['errors']} unexpected answers: tokens ran out (replays)"
                     " or requests failed; raise BENCH_BCL_TOKENS.")
    w("## Targets not met")
    w("")
    lines.extend(notes or ["None."])
    w("")
    w("## How it is measured")
    w("")
    w("`scripts/bench/run.sh` starts, on free loopback ports: a throw-away `redis-server` (no persistence);")
    w("the test OpenID Provider (`tests/provider/provider.mjs`) with two clients; the release build of the")
    w("service against it (`OIDC_LOG=warn`, `OIDC_SESSION_ENCRYPTION_KEY` set, `OIDC_PROMPT=consent`);")
    w("`scripts/bench/mini-op.mjs` and a second service instance against it (its own Redis database);")
    w("Apache 2.4 with the Debian `libapache2-mod-auth-openidc` (event MPM, `OIDCCacheType redis` on the same")
    w("Redis, server-side sessions, `OIDCPKCEMethod S256`, confidential client, access log off,")
    w("`MaxKeepAliveRequests 0`, protected location answering 401 rather than redirecting when unauthenticated")
    w("so that a lost session would count as an error). It signs in to the service and to Apache through the")
    w("provider's real login and consent pages, then runs, per round: wrk on `/introspect` (JSON body with the")
    w("session), wrk on `/forward-auth` (session cookie), `redis-benchmark` SET and GET, wrk on Apache's")
    w("protected static file (mod_auth_openidc session cookie), and the two back-channel runs. wrk counts")
    w("socket errors and status ≥ 400 as errors; `/introspect` answers 200 even for a dead session, so the")
    w("script checks `\"active\":true` before and after each run. RSS is `VmRSS` from `/proc/<pid>/status`")
    w("(idle: after the sign-in, before any load; under load: sampled mid-run). Redis memory per session is")
    w("the `used_memory` delta across N complete logins (every key a login leaves: the session hash, the")
    w("`sid`/`sub` index sets, the expiry index entry), divided by N.")
    w("")
    open(o["out"], "w").write("\n".join(lines))
    print("\n".join(lines[lines.index("## Targets"):lines.index("## Hot path: 32 connections")]))
    print("\n".join(lines[lines.index("## Targets not met"):lines.index("## How it is measured")]))


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    cmd, argv = sys.argv[1], sys.argv[2:]
    if cmd == "free-ports":
        cmd_free_ports(argv[0])
    elif cmd == "signin":
        cmd_signin(argv)
    elif cmd == "logins":
        cmd_logins(argv)
    elif cmd == "refused-logout-token":
        cmd_refused_logout_token(argv)
    elif cmd == "kc-record":
        cmd_kc_record(argv)
    elif cmd == "meta":
        cmd_meta(argv)
    elif cmd == "redis-info":
        print(redis_info(argv[0], argv[1]))
    elif cmd == "redis":
        print(json.dumps(redis_cmd(argv[0], *argv[1:])))
    elif cmd == "render":
        cmd_render(argv)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
