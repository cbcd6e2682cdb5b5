#!/usr/bin/env python3
"""The soak of scripts/bench/run.sh --soak (run by soak.sh: `soak.py soak`, `soak.py render-soak`).

soak --public URL --internal URL --pid PID --redis HOST:PORT --prefix P --seconds N --out FILE
    For N seconds, in a loop: a complete login through the provider's pages (a new user each
    time), POST /auth/refresh, /introspect (must be active), POST /auth/logout, /introspect
    (must be inactive: a stale answer otherwise). Meanwhile, every 10 s: the service's VmRSS
    and CPU time, Redis DBSIZE and the keys under the prefix by kind.
render-soak --dir DIR --out FILE
    docs/SOAK.md from the run directory.
"""

import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

INTERVAL = 10
# The service's default OIDC_LOGIN_TIMEOUT: a completed login's `login:` key lives this long.
LOGIN_TIMEOUT = 600


def request(url, method="GET", headers=None, body=None):
    """One request, redirects not followed: (status, body text); (0, error) on a socket error."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    opener = urllib.request.build_opener(benchlib.NoRedirect())
    try:
        resp = opener.open(req, timeout=30)
    except urllib.error.HTTPError as e:
        resp = e
    except OSError as e:
        return 0, str(e)
    return resp.status if hasattr(resp, "status") else resp.code, resp.read().decode("utf-8", "replace")


def key_kinds(redis, prefix):
    """Keys under the prefix, by kind: session, lock, login, sub, sid, jti, other."""
    kinds = dict.fromkeys(("session", "lock", "login", "sub", "sid", "jti", "other"), 0)
    cursor = "0"
    while True:
        cursor, keys = benchlib.redis_cmd(redis, "SCAN", cursor, "MATCH", prefix + "*", "COUNT", "1000")
        for key in keys:
            m = re.match(re.escape(prefix) + r"(session|login|sub|sid|jti):\{[^}]*\}(:lock)?$", key)
            kinds["lock" if m and m.group(2) else m.group(1) if m else "other"] += 1
        if cursor == "0":
            return kinds


def vm_rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def cmd_soak(argv):
    o = benchlib.opts(argv)
    public, internal, pid, redis, prefix = o["public"], o["internal"], o["pid"], o["redis"], o["prefix"]
    seconds = float(o["seconds"])
    start = time.monotonic()
    deadline = start + seconds
    samples, logins_at, ops = [], [], {}
    lock = threading.Lock()
    stop = threading.Event()

    def count(op, result):
        with lock:
            ops.setdefault(op, {})
            ops[op][result] = ops[op].get(result, 0) + 1

    def sample():
        t = time.monotonic() - start
        with lock:
            recent = sum(1 for at in logins_at if at > t - LOGIN_TIMEOUT)
        samples.append({
            "t": round(t),
            "rss_kb": vm_rss_kb(pid),
            "cpu_s": benchlib.cpu_ticks(pid) / benchlib.CLK_TCK,
            "dbsize": int(benchlib.redis_cmd(redis, "DBSIZE")),
            "keys": key_kinds(redis, prefix),
            "logins_within_timeout": recent,
        })

    def sampler():
        n = 0
        while True:
            sample()
            n += 1
            if stop.wait(max(0, start + n * INTERVAL - time.monotonic())):
                return

    thread = threading.Thread(target=sampler)
    thread.start()

    def introspect(session):
        status, body = request(f"{internal}/introspect", "POST", {"Content-Type": "application/json"},
                               json.dumps({"session": session}).encode())
        if status != 200:
            return str(status)
        return "active" if '"active":true' in body else "inactive"

    same_site = {"Origin": public}
    i = 0
    while time.monotonic() < deadline:
        jar, opener = benchlib.browser()
        try:
            benchlib.sign_in(opener, f"{public}/auth/login?return_to=/soak-signed-in", f"{public}/soak-signed-in",
                          f"soak-{i:06d}")
            session = benchlib.cookie_value(jar, "oidc_session")
        except SystemExit as e:
            count("login", str(e).splitlines()[0][:120])
            i += 1
            continue
        with lock:
            logins_at.append(time.monotonic() - start)
        count("login", "completed")
        cookie = {"Cookie": f"oidc_session={session}"}
        status, _ = request(f"{public}/auth/refresh", "POST", {**same_site, **cookie})
        count("refresh", str(status))
        count("introspect after login", introspect(session))
        status, _ = request(f"{public}/auth/logout", "POST", {**same_site, **cookie})
        count("logout", str(status))
        count("introspect after logout", introspect(session))
        i += 1
    stop.set()
    thread.join()
    sample()
    result = {"seconds": seconds, "interval": INTERVAL, "cycles": i, "ops": ops, "samples": samples}
    with open(o["out"], "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({"cycles": i, "ops": ops}))


# What each step of the loop should answer; anything else is an error.
EXPECTED = {
    "login": "completed",
    "refresh": "200",
    "introspect after login": "active",
    "logout": "302",
    "introspect after logout": "inactive",
}


LABELS = {"introspect": "`POST /introspect`", "forward-auth": "`GET /forward-auth`"}


def cmd_render_soak(argv):
    o = benchlib.opts(argv)
    d = o["dir"]
    meta = json.load(open(os.path.join(d, "meta.json")))
    soak = json.load(open(os.path.join(d, "soak.json")))
    wrk = {name: benchlib.parse_wrk(os.path.join(d, f"soak-{name}.txt")) for name in ("introspect", "forward-auth")}
    statuses = {name: json.load(open(os.path.join(d, f"soak-{name}-status.json"))) for name in wrk}
    samples = soak["samples"]
    seconds = soak["seconds"]
    warmup = min(60, seconds / 5)
    after = [s for s in samples if s["t"] >= warmup]

    hot_errors = {name: sum(v for k, v in statuses[name].items() if k != "200") for name in statuses}
    loop_errors = {op: sum(v for k, v in results.items() if k != EXPECTED.get(op)) for op, results in soak["ops"].items()}
    stale = soak["ops"].get("introspect after logout", {}).get("active", 0)
    rss = [s["rss_kb"] for s in after]
    first, last = rss[0], rss[-1]
    # Least-squares slope of RSS over time after warm-up, in KB per minute.
    ts = [s["t"] for s in after]
    mt, mr = sum(ts) / len(ts), sum(rss) / len(rss)
    var = sum((t - mt) ** 2 for t in ts)
    slope = sum((t - mt) * (r - mr) for t, r in zip(ts, rss)) / var * 60 if var else 0.0
    flat = abs(last - first) <= 0.05 * first
    per_session = lambda s: s["keys"]["session"] + s["keys"]["sub"] + s["keys"]["sid"] + s["keys"]["lock"]
    max_per_session = max(per_session(s) for s in samples)
    login_over = max(s["keys"]["login"] - s["logins_within_timeout"] for s in samples)
    other_max = max(s["keys"]["other"] for s in samples)

    lines = []
    w = lines.append
    verdict = lambda ok: "**met**" if ok else "**not met**"
    w("# Soak")
    w("")
    w("Generated by `scripts/bench/run.sh --soak` — do not edit by hand; rerun the script to regenerate.")
    w("Not part of CI. The figures of the regular rounds are in [PERFORMANCE.md](PERFORMANCE.md).")
    w("")
    w(f"- **Date:** {meta['date']}")
    w(f"- **Machine:** {meta['cpu_model']}, {meta['nproc']} CPUs (`nproc`), {meta['mem_total']} RAM; {meta['kernel']}")
    w(f"- **Load average when the run started:** {meta['loadavg']}")
    w(f"- **Command:** `{meta['command']}` (the soak took {int(open(os.path.join(d, 'elapsed.txt')).read()) // 60} min"
      f" {int(open(os.path.join(d, 'elapsed.txt')).read()) % 60} s)")
    w(f"- **Service:** {meta['service_rev']}; binary `{meta['binary']}`")
    w(f"- **Service configuration:** the defaults, with only {benchlib.env_summary(d)}")
    w(f"- **Load:** for {seconds:.0f} s, `wrk -t1 -c8 --latency` on `POST /introspect` and, at the same time, on"
      " `GET /forward-auth` (one signed-in session, whose access token expires after the test provider's 5 minutes:"
      " from then on each request opens its tokens to find the refresh token that keeps it alive); meanwhile one"
      " client in a loop: a complete login through the"
      " test provider's login and consent pages (a new user each time), `POST /auth/refresh` (with the service's"
      " `Origin`), `/introspect`, `POST /auth/logout`, `/introspect` again. Every 10 s: the service's `VmRSS` and"
      " CPU time, Redis `DBSIZE` and the keys under `oidc:` by kind (`SCAN`).")
    w("")
    w("## Result")
    w("")
    w("| | measured | |")
    w("|---|---|---|")
    for name in wrk:
        wanted = ' with `"active":true`' if name == "introspect" else ""
        w(f"| {LABELS[name]}: answers other than 200{wanted} | {hot_errors[name]} of"
          f" {sum(statuses[name].values())} | {verdict(hot_errors[name] == 0)} |")
    w(f"| unexpected answers in the login loop ({soak['cycles']} rounds) | {sum(loop_errors.values())} |"
      f" {verdict(sum(loop_errors.values()) == 0)} |")
    w(f"| stale answers: a session still active after its logout | {stale} | {verdict(stale == 0)} |")
    w(f"| RSS after warm-up ({warmup:.0f} s): first sample → last; slope | {benchlib.fmt_mb(first)} → {benchlib.fmt_mb(last)}"
      f" ({(last - first) / first * 100:+.1f} %); {slope:+.1f} KB/min | {'**flat**' if flat else '**grew**'} |")
    w(f"| keys of live sessions (session, `sub`, `sid`, lock) at any sample | at most {max_per_session} |"
      f" {verdict(max_per_session <= 8)} |")
    w(f"| `login:` keys beyond the logins of the last {LOGIN_TIMEOUT // 60} minutes (`OIDC_LOGIN_TIMEOUT`) | at most"
      f" {max(login_over, 0)} | {verdict(login_over <= 2)} |")
    w("")
    w("RSS counts as flat when the last sample is within 5 % of the first one after warm-up. The keys are bounded")
    w("when a session leaves nothing behind once logged out (the load's own session and the loop's current one are")
    w("at most 2 × 4 keys) and the only other keys are the completed logins' single-use `login:` markers, each of")
    w(f"which expires {LOGIN_TIMEOUT // 60} minutes after its login: their number follows the login rate and stops")
    w("growing once the soak is longer than the login timeout (the loop counts its logins; the load's own sign-in and")
    w("a login in flight at a sample are the 2 it does not count). Keys of any other kind: at most"
      f" {other_max} (the active-sessions gauge's hash).")
    w("")
    w("## Hot path under load")
    w("")
    w("| | requests/s | p50 | p99 | requests | answers |")
    w("|---|---:|---:|---:|---:|---|")
    for name, x in wrk.items():
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(statuses[name].items()))
        w(f"| {LABELS[name]} | {benchlib.fmt_int(x['rps'])} | {benchlib.fmt_ms(x['p50_ms'])} | {benchlib.fmt_ms(x['p99_ms'])} |"
          f" {x['requests']} | {answers} |")
    w("")
    w("## Login loop")
    w("")
    w("| step | expected | answers |")
    w("|---|---|---|")
    for op, expected in EXPECTED.items():
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(soak["ops"].get(op, {}).items()))
        w(f"| {op} | {expected} | {answers or '–'} |")
    w("")
    w("## Samples")
    w("")
    w("Every 10 s; service CPU is the share of one CPU the service used since the previous sample.")
    w("")
    w("| t (s) | service RSS | service CPU | Redis DBSIZE | session | sub | sid | lock | login | jti | other |"
      f" logins in the last {LOGIN_TIMEOUT // 60} min |")
    w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    prev = None
    for s in samples:
        cpu = "–" if prev is None or s["t"] == prev["t"] else f"{(s['cpu_s'] - prev['cpu_s']) / (s['t'] - prev['t']) * 100:.0f} %"
        k = s["keys"]
        w(f"| {s['t']} | {benchlib.fmt_mb(s['rss_kb'])} | {cpu} | {s['dbsize']} | {k['session']} | {k['sub']} | {k['sid']} |"
          f" {k['lock']} | {k['login']} | {k['jti']} | {k['other']} | {s['logins_within_timeout']} |")
        prev = s
    w("")
    hwm = benchlib.rss_kb(os.path.join(d, "rss-hwm.txt"))
    w(f"Peak RSS over the soak (VmHWM): {benchlib.fmt_mb(hwm)}. {benchlib.log_summary(d)}")
    w("")
    with open(o["out"], "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines[lines.index("## Result"):lines.index("## Hot path under load")]))


COMMANDS = {"soak": cmd_soak, "render-soak": cmd_render_soak}


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        raise SystemExit(__doc__)
    COMMANDS[sys.argv[1]](sys.argv[2:])
