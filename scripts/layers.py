#!/usr/bin/env python3
"""The import graph of src/: fails when an import runs up a layer or two files import each other.

The layers, lowest first, are those of docs/DESIGN.md "Layers" (keep the two in step):
a module may import from its own top-level module and from any lower layer, never from its
own layer's other modules or from a higher one (util, domain and crypto share the lowest
layer and may use one another). An import is a `crate::`, `super::` or `self::` path (in a
`use` or written inline); a file naming its own child modules is not an import, so `mod.rs`
and its children do not count as a loop. Unit tests (modules named `tests`, inline or a
folder) and the test-only `forge.rs` may reach into any layer: they are not part of the
graph.

Usage: scripts/layers.py [--graph]   (--graph prints every edge between files)
"""

import re
import sys
from pathlib import Path

LAYERS = [
    ["util", "domain", "crypto"],
    ["config"],
    ["telemetry"],
    ["session", "oidc"],
    ["service"],
    ["http"],
    ["check", "startup", "fuzzing"],
    ["main"],
]
RANK = {module: rank for rank, modules in enumerate(LAYERS) for module in modules}
# util, domain and crypto are the shared vocabulary: they may use one another.
SHARED = set(LAYERS[0])
# Compiled for tests only.
TEST_ONLY = {"tests", "forge"}

# Findings accepted for a while: printed, not failed on. Empty: every finding fails.
KNOWN: set[str] = set()

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"


def module_path(file):
    parts = list(file.relative_to(SRC).with_suffix("").parts)
    if parts in (["lib"], ["main"]):
        return [] if parts == ["lib"] else ["main"]
    if parts[-1] == "mod":
        parts.pop()
    return parts


def strip(text):
    """The code without comments, string and char literals (their insides become spaces)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif m := re.match(r'b?r(#*)"', text[i:]):
            end = text.find('"' + m.group(1), i + m.end())
            i = n if end < 0 else end + 1 + len(m.group(1))
            out.append('""')
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append('""')
        elif m := re.match(r"'(\\.[^']*|[^\\'])'", text[i:]):
            i += m.end()
            out.append("' '")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def expand(tree):
    """`a::{b, c::{d, e}}` → ["a::b", "a::c::d", "a::c::e"]."""
    tree = re.sub(r"\s+", "", tree)
    depth, start = 0, None
    for i, c in enumerate(tree):
        if c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                prefix, inner = tree[:start], tree[start + 1 : i]
                parts, d, last = [], 0, 0
                for j, ch in enumerate(inner + ","):
                    if ch in "{":
                        d += 1
                    elif ch == "}":
                        d -= 1
                    elif ch == "," and d == 0:
                        if inner[last:j]:
                            parts.append(inner[last:j])
                        last = j + 1
                return [p for part in parts for p in expand(prefix + part)]
    return [re.sub(r"\bas\w+$", "", tree)]


PATH = re.compile(r"(?<![\w:])((?:crate|super|self|oidc_session)(?:::(?:\w+|\*))+)")
USE = re.compile(r"\buse\s+([^;]+);")
MOD_OPEN = re.compile(r"\bmod\s+(\w+)\s*\{")


def references(code, base):
    """(module path of the code that refers, absolute path referred to) for each path."""
    # Inline modules (`mod tests { … }`) change what `super` and `self` mean inside them.
    scopes, depth, opened = [], 0, {}
    for m in MOD_OPEN.finditer(code):
        opened[m.end() - 1] = m.group(1)
    spans = []
    for i, c in enumerate(code):
        if c == "{":
            depth += 1
            if i in opened:
                scopes.append((opened[i], depth, i))
        elif c == "}":
            if scopes and scopes[-1][1] == depth:
                name, _, start = scopes.pop()
                spans.append((start, i, name))
            depth -= 1

    def scope_at(pos):
        inside = sorted((s for s in spans if s[0] < pos < s[1]), key=lambda s: s[0])
        return base + [s[2] for s in inside]

    found = []
    uses = [(m.start(), p) for m in USE.finditer(code) for p in expand(m.group(1))]
    inline = [(m.start(), m.group(1)) for m in PATH.finditer(USE.sub(lambda m: " " * len(m.group(0)), code))]
    for pos, path in uses + inline:
        here = scope_at(pos)
        segments = path.split("::")
        head, rest = segments[0], segments[1:]
        if head in ("crate", "oidc_session"):
            target = rest
        elif head == "self":
            target = here + rest
        elif head == "super":
            target = here[:-1]
            while rest and rest[0] == "super":
                target, rest = target[:-1], rest[1:]
            target = target + rest
        else:
            continue
        found.append((here, [s for s in target if s not in ("*", "self")]))
    return found


def main():
    files = sorted(SRC.rglob("*.rs"))
    modules = {tuple(module_path(f)): f for f in files}
    edges = {}
    for file in files:
        base = module_path(file)
        for here, target in references(strip(file.read_text()), base):
            if TEST_ONLY & set(here):
                continue
            # The file that defines the longest prefix of the path.
            for k in range(len(target), -1, -1):
                if tuple(target[:k]) in modules:
                    dest = tuple(target[:k])
                    break
            if file.name == "main.rs" and dest == ():
                continue
            src_mod = tuple(base)
            if dest == src_mod or dest[: len(src_mod)] == src_mod and src_mod != ("main",):
                continue  # itself, or one of its own child modules
            edges.setdefault(src_mod, set()).add(dest)

    def name(mod):
        return str(modules[mod].relative_to(ROOT))

    def layer(mod):
        return mod[0] if mod else None

    problems = []
    for src_mod, dests in sorted(edges.items()):
        for dest in sorted(dests):
            a, b = layer(src_mod), layer(dest)
            if b is None or a == b:
                continue
            if a not in RANK or b not in RANK:
                problems.append(f"not in a layer: {name(src_mod)} imports {name(dest)} (add it to LAYERS)")
                continue
            if RANK[b] > RANK[a] or RANK[b] == RANK[a] and not (a in SHARED and b in SHARED):
                problems.append(f"up a layer: {name(src_mod)} ({a}) imports {name(dest)} ({b})")
            if "--graph" in sys.argv:
                print(f"{name(src_mod)} -> {name(dest)}")
        for dest in sorted(dests):
            if src_mod < dest and src_mod in edges.get(dest, ()) and src_mod[: len(dest)] != dest:
                problems.append(f"loop: {name(src_mod)} and {name(dest)} import each other")
    known = [p for p in problems if p in KNOWN]
    problems = [p for p in problems if p not in KNOWN]
    for p in known:
        print(f"known: {p}")
    for gone in sorted(KNOWN - set(known)):
        print(f"fixed, remove from KNOWN in scripts/layers.py: {gone}")
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} import(s) against the layers of docs/DESIGN.md", file=sys.stderr)
        return 1
    print(f"layers ok: {len(files)} files, {sum(map(len, edges.values()))} imports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
