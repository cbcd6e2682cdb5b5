"""What bench.py, soak.py, chaos.py, ab.py and features.py share (Python 3 standard library
only): a browser enough for the provider's login and consent forms, a Redis client, CPU
sampling from /proc, option parsing, the processes a benchmark starts (the test provider
among them), and the parsing and formatting of measurements for the reports."""

import html.parser
import http.cookiejar
import json
import os
import re
import socket
import statistics
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

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


def sign_in(opener, start, done, user, stop_at_prefix=False):
    """Follows redirects from `start`, fills the provider's login and consent forms, and
    stops at the redirect to `done` (not fetched), or with stop_at_prefix at the first
    redirect to a URL starting with `done`; returns that URL. Shows the trail on failure."""
    url, form, trail = start, None, []
    for _ in range(25):
        trail.append(("POST " if form is not None else "GET ") + url)
        status, headers, body = fetch(opener, url, form)
        if 300 <= status < 400:
            location = urllib.parse.urljoin(url, headers["Location"])
            if location == done or (stop_at_prefix and location.startswith(done)):
                return location
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


def free_ports(n):
    """`n` loopback ports free at the moment of asking."""
    import socket

    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def cookie_value(jar, name):
    values = [c.value for c in jar if c.name == name]
    if not values:
        raise SystemExit(f"sign-in: no cookie {name} was set (cookies: {[c.name for c in jar]})")
    return values[-1]


# --- Redis (RESP, enough for INFO) ----------------------------------------------------


def redis_cmd(addr, *args, raw=False):
    """One command; bulk strings come back as text, or as bytes with raw=True."""
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
                return data if raw else data.decode("utf-8", "replace")
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


# --- CPU time from /proc ---------------------------------------------------------------


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)


def tree_ticks(roots):
    """CPU ticks used so far by the process trees under each root pid: live processes' own
    utime+stime plus cutime+cstime (what they reaped from finished children)."""
    procs = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            procs[int(entry)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))
    children = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    out = {}
    for name, root in roots.items():
        total, todo = 0, [int(root)]
        while todo:
            pid = todo.pop()
            total += procs.get(pid, (0, 0))[1]
            todo.extend(children.get(pid, []))
        out[name] = total
    return out


# --- options: --name value …  -------------------------------------------------------------


def opts(argv):
    out = {}
    it = iter(argv)
    for k in it:
        if not k.startswith("--"):
            raise SystemExit(f"unexpected argument {k}")
        out[k[2:]] = next(it)
    return out


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


def rss_kb(path):
    if not os.path.exists(path):
        return None
    m = re.search(r"(\d+)", open(path).read())
    return int(m.group(1)) if m else None


# --- formatting for the reports ----------------------------------------------------------


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


def env_summary(d):
    """The variables the benchmark gave the service (service-env.txt), for the report."""
    names = [line.strip() for line in open(os.path.join(d, "service-env.txt")) if line.strip()]
    return ", ".join(f"`{n}`" for n in names)


def log_summary(d):
    """How much the service logged over the run (its stderr, the default JSON lines)."""
    path = os.path.join(d, "service-a.log")
    data = open(path, "rb").read() if os.path.exists(path) else b""
    levels = {}
    for line in data.splitlines():
        m = re.search(rb'"level":"(\w+)"', line)
        key = m.group(1).decode().lower() if m else "other"
        levels[key] = levels.get(key, 0) + 1
    by_level = ", ".join(f"{n} {k}" for k, n in sorted(levels.items()))
    return (f"The service wrote {len(data.splitlines())} log lines ({len(data) / 1024:.1f} KB"
            + (f"; {by_level}" if by_level else "") + ") over the whole run.")


# --- processes the A/B and feature benchmarks start -------------------------------------


def until(check, what, tries=300):
    """Calls `check` every 0.1 s until it returns something true (exceptions count as no)."""
    for _ in range(tries):
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise SystemExit(f"not ready: {what}")


def wait_http(url, status=200, tries=300):
    until(lambda: urllib.request.urlopen(url, timeout=2).status == status, url, tries)


class Processes:
    """Child processes logging into `dir` (one `<name>.log` each), stopped together."""

    def __init__(self, dir):
        self.dir = dir
        self.procs = []

    def spawn(self, name, args, env=None, stdin=False):
        """With `stdin`, the child's stdin and stdout are pipes (the test provider exits
        when its stdin closes and prints `READY <issuer>` on stdout)."""
        log = open(os.path.join(self.dir, name + ".log"), "w")
        p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE if stdin else log, stderr=log,
                             stdin=subprocess.PIPE if stdin else subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def stop(self):
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()

    def provider(self, root, config):
        """Starts tests/provider/provider.mjs with `config`; returns its issuer."""
        env = dict(os.environ, TEST_OP_CONFIG=json.dumps(config))
        provider = self.spawn("provider", ["node", os.path.join(root, "tests/provider/provider.mjs")], env, stdin=True)
        for line in provider.stdout:
            if line.startswith(b"READY "):
                return line.split()[1].decode()
        raise SystemExit("the provider did not start")


def introspect_script(dir, name, session):
    """A wrk script that POSTs `{"session": …}` to /introspect; returns its path."""
    path = os.path.join(dir, f"introspect-{name}.lua")
    with open(path, "w") as f:
        f.write('wrk.method = "POST"\nwrk.body = \'{"session":"%s"}\'\n'
                'wrk.headers["Content-Type"] = "application/json"\n' % session)
    return path
