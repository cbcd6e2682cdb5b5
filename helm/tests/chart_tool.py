"""Lint, render and validate the oidc-session chart offline, without a `helm` binary.

Rendering uses helm-python-sdk (Helm 4's Go SDK through ctypes): `Chart.render` performs
what `helm template` does, including the values.schema.json check, and never contacts a
cluster. Manifests are checked with kubernetes-validate's bundled OpenAPI schemas.

    python chart_tool.py lint
    python chart_tool.py render OUTDIR      # one OUTDIR/<scenario>.yaml per scenario
    python chart_tool.py validate OUTDIR    # kubernetes-validate every rendered manifest
    python chart_tool.py readme             # rewrite the values table of the chart's README

The scenarios are the chart's ci/*-values.yaml files (chart-testing's convention); the
pytest suite (test_chart.py) reads the rendered files, or renders itself when run alone.
"""

from __future__ import annotations

import copy
import json
import os
import pathlib
import re
import sys
from typing import Any

import yaml

HERE = pathlib.Path(__file__).resolve().parent
# OIDC_CHART_DIR points the tools at another copy of the chart (e.g. to try a change).
CHART = pathlib.Path(os.environ.get("OIDC_CHART_DIR") or HERE.parent / "oidc-session").resolve()
REPO = HERE.parent.parent
VARS_RS = REPO / "src" / "config" / "vars.rs"

RELEASE = "demo"
NAMESPACE = "auth"

# Kubernetes versions the manifests are validated against: the chart's kubeVersion floor
# and the newest schema kubernetes-validate ships.
KUBE_VERSIONS = ("1.30.0", "latest")


def scenarios() -> dict[str, pathlib.Path]:
    """Scenario name -> values file (ci/<name>-values.yaml)."""
    return {
        p.name[: -len("-values.yaml")]: p for p in sorted((CHART / "ci").glob("*-values.yaml"))
    }


def load_values(*files: pathlib.Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for f in files:
        merged = deep_merge(merged, yaml.safe_load(f.read_text()) or {})
    return merged


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def render(values: dict[str, Any]) -> dict[str, str]:
    """Template path -> rendered text. Raises helm_python.HelmError on failure."""
    import helm_python as helm

    with helm.Chart.load(str(CHART)) as chart:
        return chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)


def to_stream(rendered: dict[str, str]) -> str:
    """The rendered templates as one multi-document YAML stream (NOTES.txt left out)."""
    parts = []
    for path in sorted(rendered):
        text = rendered[path]
        if path.endswith("NOTES.txt") or not text.strip():
            continue
        parts.append(f"---\n# Source: {path}\n{text.strip()}\n")
    return "".join(parts)


def documents(stream: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(stream) if d]


def known_vars() -> tuple[list[str], list[str]]:
    """KNOWN_VARS and SECRET_VARS, read from the Rust source (the one list)."""
    text = VARS_RS.read_text()

    def block(name: str) -> list[str]:
        m = re.search(rf"pub const {name}\s*:\s*&\[&str\]\s*=\s*&\[(.*?)\];", text, re.S)
        if not m:
            raise SystemExit(f"{VARS_RS}: no `pub const {name}: &[&str] = &[...]` found")
        body = re.sub(r"//[^\n]*", "", m.group(1))
        return re.findall(r'"(OIDC_[A-Z0-9_]+)"', body)

    return block("KNOWN_VARS"), block("SECRET_VARS")


def cmd_lint() -> int:
    """`helm lint --strict` with the values of every scenario."""
    import helm_python as helm

    failed = 0
    notes: set[str] = set()
    for name, path in scenarios().items():
        report = helm.lint(str(CHART), load_values(path), strict=True)
        problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
        problems += [{"path": "", "error": e} for e in report.get("errors") or []]
        notes |= {f"{m.get('path')}: {m.get('error')}" for m in report.get("messages", [])
                  if m.get("severity", 0) < 2}
        for m in problems:
            print(f"  lint {name}: {m.get('path')}: {m.get('error')}")
        failed += bool(problems)
    for n in sorted(notes):
        print(f"  lint info: {n}")
    print(f"helm lint --strict: {len(scenarios()) - failed} of {len(scenarios())} scenarios clean")
    return 1 if failed else 0


def cmd_render(outdir: pathlib.Path) -> int:
    outdir.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name, path in scenarios().items():
        try:
            rendered = render(load_values(path))
        except Exception as exc:  # noqa: BLE001 - report every scenario
            print(f"render {name}: FAILED\n{exc}")
            failed += 1
            continue
        stream = to_stream(rendered)
        (outdir / f"{name}.yaml").write_text(stream)
        notes = rendered.get(f"{CHART.name}/templates/NOTES.txt", "")
        (outdir / f"{name}.NOTES.txt").write_text(notes)
        kinds = sorted(d["kind"] for d in documents(stream))
        print(f"render {name}: {len(kinds)} objects ({', '.join(kinds)})")
    return 1 if failed else 0


def cmd_validate(outdir: pathlib.Path) -> int:
    import kubernetes_validate as kv
    from kubernetes_validate.utils import SchemaNotFoundError

    versions = [kv.latest_version() if v == "latest" else v for v in KUBE_VERSIONS]
    errors = 0
    checked = 0
    skipped: set[str] = set()
    for f in sorted(outdir.glob("*.yaml")):
        for doc in documents(f.read_text()):
            for version in versions:
                try:
                    kv.validate(doc, version, strict=True)
                    checked += 1
                except SchemaNotFoundError:
                    # CRDs (ServiceMonitor, HTTPRoute) have no bundled schema: the pytest
                    # suite checks their shape instead.
                    skipped.add(f"{doc['apiVersion']}/{doc['kind']}")
                except kv.ValidationError as exc:
                    path = ".".join(str(p) for p in exc.path)
                    print(f"  INVALID {f.name} {doc['kind']}/{doc['metadata']['name']} "
                          f"(Kubernetes {version}): {path}: {exc.message}")
                    errors += 1
    print(f"kubernetes-validate: {checked} object checks against Kubernetes "
          f"{' and '.join(versions)}, {errors} invalid; no bundled schema (CRD, skipped): "
          f"{', '.join(sorted(skipped)) or 'none'}")
    return 1 if errors or checked == 0 else 0


README = CHART / "README.md"
TABLE_START = "<!-- values table: made by `python helm/tests/chart_tool.py readme` from values.yaml; do not edit -->"
TABLE_END = "<!-- end of values table -->"
KEY_LINE = re.compile(r"^( *)([A-Za-z][A-Za-z0-9_]*):(?: |$)")


def value_docs() -> dict[str, str]:
    """Dotted key path -> its `# --` comment in values.yaml (the paragraph up to the first
    commented example line)."""
    docs: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] | None = None
    for line in (CHART / "values.yaml").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = [stripped[4:].strip()]
            continue
        if stripped.startswith("#"):
            text = stripped[1:]
            if pending is not None and text.startswith(" ") and not text.startswith(("  ", " - ")):
                pending.append(text.strip())
            elif pending is not None:
                pending = pending + [None]  # an example: the description ends here
            continue
        m = KEY_LINE.match(line)
        if not m:
            pending = None
            continue
        indent, key = len(m.group(1)), m.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        if pending:
            words = pending[: pending.index(None)] if None in pending else pending
            docs[".".join(k for _, k in stack)] = " ".join(words)
        pending = None
    return docs


def values_table() -> str:
    """The Markdown table of every value: its key, default and description."""
    docs = value_docs()
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    rows = ["| key | default | description |", "|---|---|---|"]

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("<", "&lt;")

    def walk(tree: dict[str, Any], prefix: str) -> None:
        for key, value in tree.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict) and value:
                if path in docs:
                    rows.append(f"| `{path}` | | {cell(docs[path])} |")
                walk(value, path + ".")
            else:
                default = json.dumps(value, ensure_ascii=False)
                rows.append(f"| `{path}` | `{cell(default)}` | {cell(docs.get(path, ''))} |")

    walk(defaults, "")
    return "\n".join(rows) + "\n"


def readme_with_table(text: str) -> str:
    """`text` (the chart's README) with the values table between its markers made anew."""
    start, end = text.index(TABLE_START), text.index(TABLE_END)
    return text[: start + len(TABLE_START)] + "\n\n" + values_table() + "\n" + text[end:]


def cmd_readme() -> int:
    README.write_text(readme_with_table(README.read_text()))
    print(f"{README}: values table rewritten")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) >= 1 and argv[0] == "lint":
        return cmd_lint()
    if argv == ["readme"]:
        return cmd_readme()
    if len(argv) == 2 and argv[0] == "render":
        return cmd_render(pathlib.Path(argv[1]))
    if len(argv) == 2 and argv[0] == "validate":
        return cmd_validate(pathlib.Path(argv[1]))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
