#!/usr/bin/env python3
"""Checks for scripts/image.sh (Python 3 standard library only).

  dockerfile-runtime [DOCKERFILE]   the Dockerfile's runtime stage as JSON: base, labels,
                                    user, exposed ports, entrypoint, files copied in
  compare-config OCI_CONFIG_JSON    the built image's OCI config (umoci unpack's
                                    config.json is not it: the image config blob) against
                                    the Dockerfile's runtime stage and image.sh's own
                                    declaration; exits 1 on any difference
  contents ROOTFS                   every path in the unpacked root filesystem is one of the
                                    expected (binary, CA bundle, passwd, group, /tmp,
                                    nonroot's home) with its owner and mode, and the binary
                                    is static; exits 1 otherwise
  sign-in --start URL --done URL --internal URL
                                    a full sign-in through the test provider's forms, then
                                    /introspect says the session is active
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shlex
import stat
import subprocess
import sys
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts" / "bench"))

# What distroless/static-debian12:nonroot brings that the service uses, as image.sh lays
# it out: path -> (type, uid, gid, mode).
EXPECTED = {
    "etc": ("dir", 0, 0, 0o755),
    "etc/passwd": ("file", 0, 0, 0o644),
    "etc/group": ("file", 0, 0, 0o644),
    "etc/ssl": ("dir", 0, 0, 0o755),
    "etc/ssl/certs": ("dir", 0, 0, 0o755),
    "etc/ssl/certs/ca-certificates.crt": ("file", 0, 0, 0o644),
    "home": ("dir", 0, 0, 0o755),
    "home/nonroot": ("dir", 65532, 65532, 0o700),
    "tmp": ("dir", 0, 0, 0o1777),
    "usr": ("dir", 0, 0, 0o755),
    "usr/local": ("dir", 0, 0, 0o755),
    "usr/local/bin": ("dir", 0, 0, 0o755),
    "usr/local/bin/oidc-session": ("file", 0, 0, 0o755),
}


def dockerfile_instructions(path: pathlib.Path = ROOT / "Dockerfile") -> list[str]:
    """The Dockerfile's instructions, each joined across its continuation lines."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        current += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            lines.append(current)
            current = ""
    return lines


def dockerfile_build_env(path: pathlib.Path = ROOT / "Dockerfile") -> dict:
    """CARGO_* variables the Dockerfile's ENV and ARG instructions set."""
    out = {}
    for line in dockerfile_instructions(path):
        word, _, rest = line.partition(" ")
        if word.upper() in ("ENV", "ARG"):
            out.update(kv.split("=", 1) for kv in shlex.split(rest) if kv.startswith("CARGO_") and "=" in kv)
    return out


def dockerfile_runtime(path: pathlib.Path = ROOT / "Dockerfile") -> dict:
    """The last stage of the Dockerfile."""
    lines = dockerfile_instructions(path)
    stages = [i for i, l in enumerate(lines) if l.upper().startswith("FROM ")]
    stage = lines[stages[-1]:]
    out = {"base": stage[0].split()[1], "labels": {}, "user": None, "ports": [], "entrypoint": None,
           "copies": []}
    for line in stage[1:]:
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "LABEL":
            out["labels"].update(dict(kv.split("=", 1) for kv in shlex.split(rest)))
        elif word == "USER":
            out["user"] = rest.strip()
        elif word == "EXPOSE":
            out["ports"] += [p if "/" in p else f"{p}/tcp" for p in rest.split()]
        elif word == "ENTRYPOINT":
            out["entrypoint"] = json.loads(rest)
        elif word == "COPY":
            out["copies"].append([a for a in rest.split() if not a.startswith("--")][-1])
        else:
            raise SystemExit(f"Dockerfile runtime stage: {word} is not compared with scripts/image.sh; "
                             f"teach scripts/image_check.py about it")
    return out


def image_sh_declaration() -> dict:
    run = subprocess.run([str(ROOT / "scripts" / "image.sh"), "--print-config"], capture_output=True,
                         text=True, check=True)
    return json.loads(run.stdout)


def differences(want: dict, have: dict, what: str) -> list[str]:
    return [f"{what}: {k} is {have.get(k)!r}, the Dockerfile has {want[k]!r}"
            for k in ("labels", "user", "ports", "entrypoint") if want[k] != have.get(k)]


def cmd_compare_config(path: str) -> int:
    want = dockerfile_runtime()
    declared = image_sh_declaration()
    config = json.loads(pathlib.Path(path).read_text())["config"]
    built = {
        "labels": config.get("Labels") or {},
        "user": config.get("User"),
        "ports": sorted(config.get("ExposedPorts") or {}),
        "entrypoint": config.get("Entrypoint"),
    }
    want["ports"] = sorted(want["ports"])
    problems = differences(want, declared, "image.sh --print-config") + differences(want, built, "built image")
    if config.get("Cmd"):
        problems.append(f"built image: Cmd is {config['Cmd']!r}; the Dockerfile sets none")
    for p in problems:
        print(f"  {p}")
    print(f"image config: labels, user, ports and entrypoint {'differ' if problems else 'match the Dockerfile'}")
    return 1 if problems else 0


def is_static_elf(path: pathlib.Path) -> bool:
    """No program interpreter and no shared library needed (a static-pie keeps a DYNAMIC
    segment for relocating itself, which is fine)."""
    def readelf(flag: str) -> str:
        return subprocess.run(["readelf", flag, "-W", str(path)], capture_output=True, text=True, check=True).stdout
    return "INTERP" not in readelf("-l") and "(NEEDED)" not in readelf("-d")


def cmd_contents(rootfs: str) -> int:
    root = pathlib.Path(rootfs)
    problems, seen = [], set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = pathlib.Path(dirpath) / name
            rel = str(full.relative_to(root))
            seen.add(rel)
            st = full.lstat()
            kind = "dir" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode) else "other"
            actual = (kind, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
            if rel not in EXPECTED:
                problems.append(f"unexpected {kind} /{rel}")
            elif actual != EXPECTED[rel]:
                problems.append(f"/{rel}: {actual} (expected {EXPECTED[rel]})")
    problems += [f"missing /{p}" for p in EXPECTED if p not in seen]
    passwd = (root / "etc/passwd").read_text() if "etc/passwd" in seen else ""
    group = (root / "etc/group").read_text() if "etc/group" in seen else ""
    if not re.search(r"^nonroot:x:65532:65532:", passwd, re.M):
        problems.append("/etc/passwd has no nonroot user 65532")
    if not re.search(r"^nonroot:x:65532:", group, re.M):
        problems.append("/etc/group has no nonroot group 65532")
    binary = root / "usr/local/bin/oidc-session"
    if binary.exists() and not is_static_elf(binary):
        problems.append("/usr/local/bin/oidc-session is not a static executable")
    for p in problems:
        print(f"  {p}")
    print(f"image contents: {len(seen)} paths, {'problems above' if problems else 'nothing but the expected files'}")
    return 1 if problems else 0


def cmd_sign_in(argv: list[str]) -> int:
    import benchlib as bench

    o = bench.opts(argv)
    jar, opener = bench.browser()
    bench.sign_in(opener, o["start"], o["done"], "imagetest")
    session = bench.cookie_value(jar, "oidc_session")
    req = urllib.request.Request(o["internal"] + "/introspect", data=json.dumps({"session": session}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=15) as resp:
        answer = json.loads(resp.read())
    if answer.get("active") is not True or answer.get("sub") != "imagetest":
        print(f"sign-in: the session is not active after signing in: {answer}")
        return 1
    print(f"sign-in: signed in as {answer['sub']}; /introspect says active")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["dockerfile-runtime"]:
        print(json.dumps(dockerfile_runtime(*map(pathlib.Path, argv[1:2])), indent=2))
        return 0
    if len(argv) == 2 and argv[0] == "compare-config":
        return cmd_compare_config(argv[1])
    if len(argv) == 2 and argv[0] == "contents":
        return cmd_contents(argv[1])
    if argv[:1] == ["sign-in"]:
        return cmd_sign_in(argv[1:])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
