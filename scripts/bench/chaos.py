#!/usr/bin/env python3
"""Failures under load, for scripts/bench/run.sh --chaos (Python 3 standard library only).

Subcommands:
  sessions --start URL --done URL --count N --user-prefix P --out FILE
        N sign-ins through the provider's forms, each with a fresh cookie jar; their session
        cookies go to FILE, one a line
  load --instance NAME,INTERNAL_URL,LOGIN_START,LOGIN_DONE,SESSIONS_FILE [--instance …]
       --rate R --login-every S --stop FILE --out FILE
        per instance: POST /introspect at a steady R requests/s (its sessions in turn, each
        answer checked: 200 and "active": true), and a complete sign-in every S seconds (its
        new session introspected once); until FILE exists. Every outcome goes to FILE (JSON lines)
  check --internal URL --sessions FILE
        prints how many of the sessions are no longer active (one introspection each)
  report --load FILE --events FILE --processes FILE --out FILE
        per event: errors by status, time until the answers are correct again, sessions lost
"""

import concurrent.futures
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import browser, cookie_value, opts, sign_in  # noqa: E402

# Which URL a sign-in was fetching when it failed: benchlib.sign_in calls benchlib.fetch.
_fetching = threading.local()
_fetch = benchlib.fetch


def _tracked_fetch(opener, url, form=None):
    _fetching.url = url
    return _fetch(opener, url, form)


benchlib.fetch = _tracked_fetch

TIMEOUT = 5.0  # per introspection; the service bounds its own Redis calls at 2 s


def introspect(internal, session):
    """(status, active): status is the HTTP status or a word for a failure without one."""
    request = urllib.request.Request(
        f"{internal}/introspect", data=json.dumps({"session": session}).encode(),
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
            return resp.status, json.load(resp).get("active") is True
    except urllib.error.HTTPError as e:
        return e.code, False
    except urllib.error.URLError as e:
        return ("timeout" if "timed out" in str(e.reason) else "refused" if "refused" in str(e.reason)
                else "connection error"), False
    except (TimeoutError, OSError):
        return "timeout", False


def step(url, start):
    """`service /auth/login` or `provider /interaction/…`, without query strings."""
    parts, own = urllib.parse.urlsplit(url), urllib.parse.urlsplit(start)
    path = "/".join(parts.path.split("/")[:3])
    return f"{'service' if parts.netloc == own.netloc else 'provider'} {path}"


def try_sign_in(start, done, user):
    """(ok, outcome, cookie): outcome names the failing step."""
    jar, opener = browser()
    _fetching.url = start
    try:
        sign_in(opener, start, done, user)
        return True, "signed in", cookie_value(jar, "oidc_session")
    except SystemExit as e:  # sign_in's way of failing: "sign-in: <status> at <url>…"
        words = str(e).split()
        if len(words) >= 4 and words[2] == "at":
            return False, f"{words[1]} at {step(words[3], start)}", None
        return False, str(e).splitlines()[0][:80], None
    except urllib.error.URLError as e:
        reason = "refused" if "refused" in str(e.reason) else "timeout" if "timed out" in str(e.reason) else "error"
        return False, f"connection {reason} at {step(_fetching.url, start)}", None
    except (TimeoutError, OSError) as e:
        return False, f"connection error ({type(e).__name__}) at {step(_fetching.url, start)}", None


def cmd_sessions(argv):
    o = opts(argv)
    cookies = []
    for i in range(int(o["count"])):
        ok, outcome, cookie = try_sign_in(o["start"], o["done"], f"{o['user-prefix']}{i:04d}")
        if not ok:
            raise SystemExit(f"sessions: sign-in {i} failed: {outcome}")
        cookies.append(cookie)
    with open(o["out"], "w") as f:
        f.write("\n".join(cookies) + "\n")


def cmd_load(argv):
    instances, rest = [], []
    it = iter(argv)
    for a in it:
        if a == "--instance":
            name, internal, start, done, sessions = next(it).split(",")
            instances.append({"name": name, "internal": internal, "start": start, "done": done,
                              "sessions": open(sessions).read().split()})
        else:
            rest.append(a)
    o = opts(rest)
    rate, login_every, stop = float(o["rate"]), float(o["login-every"]), o["stop"]
    results, lock = [], threading.Lock()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=64)

    def record(entry):
        with lock:
            results.append(entry)

    def one_introspection(inst, session, scheduled):
        t0 = time.time()
        status, active = introspect(inst["internal"], session)
        record({"inst": inst["name"], "kind": "introspect", "sched": scheduled, "t": t0, "end": time.time(),
                "status": status, "ok": status == 200 and active})

    def introspections(inst):
        n, i, next_at = len(inst["sessions"]), 0, time.time()
        while not os.path.exists(stop):
            next_at += 1 / rate
            time.sleep(max(0.0, next_at - time.time()))
            pool.submit(one_introspection, inst, inst["sessions"][i % n], next_at)
            i += 1

    def logins(inst):
        i, next_at = 0, time.time()
        while not os.path.exists(stop):
            t0 = time.time()
            ok, outcome, cookie = try_sign_in(inst["start"], inst["done"], f"chaos-{inst['name']}-{i:05d}")
            if ok:
                status, active = introspect(inst["internal"], cookie)
                if not (status == 200 and active):
                    ok, outcome = False, f"new session not active (introspection {status})"
            record({"inst": inst["name"], "kind": "login", "t": t0, "end": time.time(), "status": outcome, "ok": ok})
            i += 1
            next_at += login_every
            time.sleep(max(0.0, next_at - time.time()))

    threads = [threading.Thread(target=f, args=(inst,)) for inst in instances for f in (introspections, logins)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pool.shutdown(wait=True)
    with open(o["out"], "w") as f:
        for entry in sorted(results, key=lambda e: e["t"]):
            f.write(json.dumps(entry) + "\n")


def cmd_check(argv):
    o = opts(argv)
    sessions = open(o["sessions"]).read().split()
    print(sum(1 for s in sessions if introspect(o["internal"], s) != (200, True)))


def cmd_report(argv):
    o = opts(argv)
    load = [json.loads(line) for line in open(o["load"])]
    events, checks = [], {}
    for line in open(o["events"]):
        t, name, inst, what = line.split()[:4]
        if what == "start":
            events.append({"name": name, "inst": inst, "start": float(t), "end": None})
        elif what == "end":
            next(e for e in reversed(events) if e["name"] == name)["end"] = float(t)
        elif what.startswith("lost="):
            checks[(name, inst)] = int(what[5:])
    load_end = max(e["end"] for e in load)
    lines = ["| event | instance | fault lasted | introspections in window | wrong or failed answers (by status) "
             "| slowest answer | answers correct again after the fault ended | logins ok / failed (by step) "
             "| sessions lost |",
             "|---|---|---:|---:|---|---:|---:|---|---:|"]
    first = min(e["start"] for e in events)
    quiet = [e for e in load if e["t"] < first and e["kind"] == "introspect"]
    baseline_bad = sum(1 for e in quiet if not e["ok"])
    for i, ev in enumerate(events):
        until = events[i + 1]["start"] if i + 1 < len(events) else load_end
        insts = ["A", "B"] if ev["inst"] == "both" else [ev["inst"]]
        for inst in insts:
            window = [e for e in load if e["inst"] == inst and ev["start"] <= e["t"] < until]
            answers = [e for e in window if e["kind"] == "introspect"]
            bad = [e for e in answers if not e["ok"]]
            by_status = {}
            for e in bad:
                key = "200 but inactive" if e["status"] == 200 else str(e["status"])
                by_status[key] = by_status.get(key, 0) + 1
            # The first answer after which every answer in the window is correct.
            last_bad = max((e["t"] for e in bad), default=None)
            after = [e for e in answers if last_bad is not None and e["t"] > last_bad]
            if last_bad is None:
                recovered = "no error"
            elif not after:
                recovered = "not within the window"
            else:
                recovered = f"{max(0.0, after[0]['t'] - ev['end']):.1f} s"
            logins = [e for e in window if e["kind"] == "login"]
            failed = {}
            for e in logins:
                if not e["ok"]:
                    failed[e["status"]] = failed.get(e["status"], 0) + 1
            lost = checks.get((ev["name"], inst), "?")
            lines.append(
                f"| {ev['name']} | {inst} | {ev['end'] - ev['start']:.1f} s | {len(answers)} | "
                + (", ".join(f"{k}: {v}" for k, v in sorted(by_status.items())) or "none")
                + f" | {max((e['end'] - e['t'] for e in answers), default=0):.2f} s"
                + f" | {recovered} | {sum(e['ok'] for e in logins)} / {len(logins) - sum(e['ok'] for e in logins)}"
                + (" (" + ", ".join(f"{k}: {v}" for k, v in sorted(failed.items())) + ")" if failed else "")
                + f" | {lost} |")
    procs = json.load(open(o["processes"]))
    lines += ["", f"Quiet period before the first event: {len(quiet)} introspections, {baseline_bad} wrong or failed.",
              "Service processes: " + "; ".join(
                  f"{p['name']}: pid {p['pid']}, started at tick {p['start_before']} before and {p['start_after']}"
                  f" after ({'same process, alive' if p['start_before'] == p['start_after'] else 'RESTARTED OR GONE'})"
                  for p in procs) + "."]
    open(o["out"], "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))


COMMANDS = {"sessions": cmd_sessions, "load": cmd_load, "check": cmd_check, "report": cmd_report}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        raise SystemExit(__doc__)
    COMMANDS[sys.argv[1]](sys.argv[2:])
