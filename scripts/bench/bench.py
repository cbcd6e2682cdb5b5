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
  record --redis HOST:PORT/DB --prefix P --logins FILE --out FILE
                                    sizes of one stored session (its value's parts, its keys)
  capture --monitor FILE --cookie VALUE --out FILE
                                    from MONITOR output around one request: the commands the
                                    service sent, and (one per line) the arguments of the one
                                    that names the session, for redis-benchmark to replay
  meta --repo DIR --binary PATH --command CMD --out FILE …
                                    machine, date, versions
  cpu-snapshot PID                  machine CPU jiffies and those of the process tree under PID
  ticks NAME=PID…                   CPU ticks of each process tree
  redis-info HOST:PORT[/DB] KEY     one INFO field
  render --dir DIR --out FILE       results of a run -> docs/PERFORMANCE.md (scripts/bench/report.py,
                                    over what scripts/bench/report_data.py reads and judges)

The soak (run.sh --soak) is scripts/bench/soak.py, the failure runs (run.sh --chaos)
scripts/bench/chaos.py; what the three share is scripts/bench/benchlib.py.
"""

import base64
import json
import os
import re
import sys
import time
import urllib.request
import uuid

import report  # noqa: E402  (`render`)
from benchlib import (CLK_TCK, browser, cookie_value, cpu_ticks, free_ports, opts, redis_cmd, redis_info, sign_in,
                      tree_ticks)


def cmd_cpu_snapshot(root):
    """Machine-wide busy/total jiffies and the CPU used so far by the process tree under root."""
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    idle = cpu[3] + cpu[4]  # idle + iowait
    total = sum(cpu[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
    print(json.dumps({"busy": total - idle, "total": total, "ours": tree_ticks({"ours": root})["ours"]}))


def cmd_ticks(argv):
    print(json.dumps(tree_ticks(dict(a.split("=", 1) for a in argv))))


# --- subcommands ------------------------------------------------------------------------


def cmd_free_ports(n):
    print(" ".join(str(p) for p in free_ports(int(n))))


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
    # A wrong signature of the right length (2048-bit key) whose value is below any 2048-bit
    # modulus, so the verifier does the full RSA operation before refusing it (a random value
    # at or above the modulus would be refused earlier, and more cheaply).
    sig = b"\x00" + os.urandom(255)
    print(".".join([b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(sig)]))


def b64url_sha256(text):
    """How the service names its Redis keys: base64url SHA-256, no padding."""
    import hashlib

    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


def cmd_record(argv):
    """One stored session: the parts of its value, and what its keys cost Redis.

    The value (src/session/record.rs): version byte 1 | u32 big-endian length of the
    metadata | metadata, a JSON array [[sub, username, email, email_verified, name, groups],
    sid, claims, created_at, expires_at, access_token_expires_at, refreshed_at, refreshable] | token mode byte (0 plain, 1 sealed,
    2 sealed after the metadata's 32-byte authentication tag) | [tag] | tokens (packed as src/session/tokens.rs
    says; sealed = 24-byte nonce + ciphertext + 16-byte tag)."""
    o = opts(argv)
    redis, prefix = o["redis"], o["prefix"]
    cursor, key = "0", None
    while key is None:
        cursor, keys = redis_cmd(redis, "SCAN", cursor, "MATCH", f"{prefix}session:*", "COUNT", "1000")
        key = next((k for k in keys if not k.endswith(":lock") and redis_cmd(redis, "TYPE", k) == "string"), None)
        if cursor == "0":
            break
    if key is None:
        raise SystemExit(f"no session value under {prefix}session:* in {redis}")
    value = redis_cmd(redis, "GET", key, raw=True)
    if len(value) < 6 or value[0] != 1:
        raise SystemExit(f"{key}: not a session of format 1 (first byte {value[:1]!r})")
    meta_len = int.from_bytes(value[1:5], "big")
    meta = json.loads(value[5:5 + meta_len])
    mode = value[5 + meta_len]
    tag = 32 if mode == 2 else 0
    tokens = value[6 + meta_len + tag:]
    identity, sid, claims = meta[0], meta[1], meta[2]
    indexes = [f"{prefix}sub:{{{b64url_sha256(identity[0])}}}"]
    if sid:
        indexes.append(f"{prefix}sid:{{{b64url_sha256(sid)}}}")
    logins = json.load(open(o["logins"]))
    result = {
        "record_bytes": len(value),
        "metadata_bytes": meta_len,
        "claims_bytes": len(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()),
        "tokens_bytes": len(tokens),
        "tokens_sealed": mode in (1, 2),
        "metadata_tag_bytes": tag,
        "key_bytes": len(key),
        "memory_usage_session": redis_cmd(redis, "MEMORY", "USAGE", key),
        "memory_usage_indexes": sum(redis_cmd(redis, "MEMORY", "USAGE", k) or 0 for k in indexes),
        "index_fields": sum(redis_cmd(redis, "HLEN", k) for k in indexes),
        "keys_per_session": logins["keys_per_session"],
    }
    with open(o["out"], "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result))


def cmd_capture(argv):
    import shlex

    o = opts(argv)
    # The service keys a session by the SHA-256 of its cookie; others may use the value itself.
    key = b64url_sha256(o["cookie"]) if "match" not in o else o["match"]
    sent, replay = [], None
    for line in open(o["monitor"]):
        m = re.match(r"^[\d.]+ \[\d+ ([^\]]+)\] (.*)$", line.strip())
        if not m or m.group(1) == "lua":
            continue  # commands run inside a script are part of the script's round trip
        args = shlex.split(m.group(2))
        sent.append(args[0].upper())
        if replay is None and any(key in a for a in args):
            replay = args
    if replay is None and "out" in o:
        raise SystemExit(f"capture: no command naming the session in {o['monitor']}")
    if "out" in o:
        with open(o["out"], "w") as f:
            f.write("\n".join(replay) + "\n")
    print(json.dumps({"commands": sent, "replayed": replay[0].upper() if replay else None}))


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
    # Only what goes into the binary counts as a change.
    dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"],
                           capture_output=True, text=True).stdout.strip()
    with open(o["binary"], "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    built = datetime.datetime.fromtimestamp(os.path.getmtime(o["binary"]), datetime.timezone.utc)
    if o.get("built-from"):
        source = o["built-from"]
    else:
        source = f"commit {rev}" + (" with uncommitted changes to src/ or Cargo.*" if dirty else "")
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


COMMANDS = {
    "free-ports": lambda argv: cmd_free_ports(argv[0]),
    "signin": cmd_signin,
    "logins": cmd_logins,
    "refused-logout-token": cmd_refused_logout_token,
    "ticks": cmd_ticks,
    "cpu-snapshot": lambda argv: cmd_cpu_snapshot(argv[0]),
    "record": cmd_record,
    "capture": cmd_capture,
    "meta": cmd_meta,
    "redis-info": lambda argv: print(redis_info(argv[0], argv[1])),
    "redis": lambda argv: print(json.dumps(redis_cmd(argv[0], *argv[1:]))),
    "render": report.cmd_render,
}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        raise SystemExit(__doc__)
    COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
