#!/usr/bin/env python3
"""Keeps the docs and the code in step (`make docs-check`, run by CI). Four inventories, each taken
from the code as it is, each held against README.md and docs/*.md in both directions:

  CLI flags   every command's `--help` (the binary's own parser)  <->  docs/CLI.md, one section per command;
              and a `--flag` written after `evalengine CMD` on any line of the docs must be CMD's
  config      `evalengine docs-inventory` (the sets the loaders refuse unknown fields with)  <->  docs/CONFIG.md
  metrics     every `label: "evalengine_..."` in Sources/ and every Argo metric in configs/argo/  <->  named
              somewhere in the docs; an `evalengine_...` metric the docs name must exist
  routes      every router.get/post in Sources/Server  <->  docs/API.md's `METHOD /path` entries

A name in the code and not in the docs is undocumented; one in the docs and not in the code is
stale. Both fail. Prints the coverage of each, then checks itself: with a flag taken out of the
code's inventory, and a metric put in, it must report the flag's documentation stale and the metric
undocumented.

  python3 scripts/docs-check.py [--bin .build/debug/evalengine]"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def help_text(binary, args):
    return subprocess.run([binary, *args, "--help"], capture_output=True, text=True, timeout=60).stdout


def subcommands(text):
    out, inside = [], False
    for line in text.splitlines():
        if line.startswith("SUBCOMMANDS:"):
            inside = True
            continue
        if inside:
            m = re.match(r"^  ([a-z][a-z0-9-]*)\s", line)
            if m:
                out.append(m.group(1))
            elif line and not line.startswith(" "):
                inside = False
    return out


def cli_inventory(binary):
    """{"eval": {"--golden", ...}, "cache prune": {...}, ...} from the binary's help."""
    commands = {}
    for cmd in subcommands(help_text(binary, [])):
        subs = subcommands(help_text(binary, [cmd]))
        for path in ([[cmd, s] for s in subs] if subs else [[cmd]]):
            text = help_text(binary, path)
            options = text.split("OPTIONS:", 1)[1] if "OPTIONS:" in text else ""
            flags = {m.group(1) for m in re.finditer(r"^  (?:-[a-zA-Z], )?(--[a-z0-9-]+)", options, re.M)} - {"--help"}
            commands[" ".join(path)] = flags
    return commands


def code_metrics():
    names = set()
    for f in glob.glob(os.path.join(ROOT, "Sources", "**", "*.swift"), recursive=True):
        names |= set(re.findall(r'label: "(evalengine_[a-z0-9_]+)"', open(f).read()))
    argo = set()
    for f in glob.glob(os.path.join(ROOT, "configs", "argo", "*.yaml")):
        text = open(f).read()
        for block in re.findall(r"prometheus:\n((?:\s+.*\n)+?)\s*(?:templates:|\S)", text):
            argo |= set(re.findall(r"- name: ([a-z_][a-z0-9_]*)\n\s+help:", block))
        argo |= set(re.findall(r"- name: ([a-z_][a-z0-9_]*)\n\s+help:", text))
    return names, argo


def code_routes():
    routes = set()
    for f in glob.glob(os.path.join(ROOT, "Sources", "Server", "*.swift")):
        for method, path in re.findall(r'router\.(get|post|put|delete)\("([^"]+)"', open(f).read()):
            if "\\(kind.rawValue)" in path:
                for kind in ("eval", "shadow-compare", "index-test"):
                    routes.add((method.upper(), path.replace("\\(kind.rawValue)", kind)))
            else:
                routes.add((method.upper(), re.sub(r":([a-z]+)", r"{\1}", path)))
    return routes


def read_docs():
    files = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
    return {os.path.relpath(f, ROOT): open(f).read() for f in files}


def sections(text, prefix):
    """{title: body} of the `## prefix...` sections of a Markdown text."""
    out = {}
    for m in re.finditer(rf"(?m)^## {re.escape(prefix)}(.*)\n((?:(?!^## ).*\n?)*)", text):
        out[m.group(1).strip()] = m.group(2)
    return out


def check(binary, cli, config, metrics, argo_metrics, routes, docs):
    problems, coverage = [], {}
    everything = "\n".join(docs.values())

    # CLI: docs/CLI.md per command, both ways; and `evalengine CMD ... --flag` lines anywhere.
    cli_doc = sections(docs.get("docs/CLI.md", ""), "evalengine ")
    documented = 0
    total = sum(len(f) for f in cli.values())
    for cmd, flags in sorted(cli.items()):
        body = cli_doc.get(cmd)
        if body is None:
            problems.append(f"undocumented command: evalengine {cmd} has no section in docs/CLI.md")
            continue
        written = set(re.findall(r"(?m)^\| `(--[a-z0-9-]+)` \|", body))
        for f in sorted(flags - written):
            problems.append(f"undocumented flag: evalengine {cmd} {f} (docs/CLI.md)")
        for f in sorted(written - flags):
            problems.append(f"stale: docs/CLI.md documents evalengine {cmd} {f}, which the command no longer has")
        documented += len(flags & written)
    for cmd in sorted(set(cli_doc) - set(cli)):
        problems.append(f"stale: docs/CLI.md has a section for evalengine {cmd}, which no longer exists")
    commands = sorted(cli, key=len, reverse=True)
    # The pipelines' own calls (configs/argo/: `evalengine validate --check-endpoints ...` in a step) count too.
    calls = dict(docs)
    for f in sorted(glob.glob(os.path.join(ROOT, "configs", "argo", "*.yaml"))):
        calls[os.path.relpath(f, ROOT)] = open(f).read()
    for name, text in calls.items():
        for n, line in enumerate(text.splitlines(), 1):
            for m in re.finditer(r"evalengine ((?:[a-z][a-z0-9-]* ?){1,2})", line):
                cmd = next((c for c in commands if (m.group(1).strip() + " ").startswith(c + " ")), None)
                if cmd is None:
                    continue
                # The flags after the command on the line, up to a pipe or a comment.
                rest = re.split(r"\s(?:\||#|&&|;)\s", line[m.end():], maxsplit=1)[0]
                for f in FLAG.findall(rest):
                    if f not in cli[cmd] and f != "--help":
                        problems.append(f"stale: {name}:{n}: evalengine {cmd} {f}: no such flag")
    coverage["CLI flags"] = (documented, total)

    # Config fields: docs/CONFIG.md's tables, section by section.
    config_doc = sections(docs.get("docs/CONFIG.md", ""), "")
    for inventory_key, title in [("service_config", "Service config"), ("endpoint_config", "Endpoints"), ("gate_config", "Gates")]:
        body = config_doc.get(title, "")
        written = set(re.findall(r"(?m)^\| `([a-z0-9_.]+)` \|", body))
        fields = set(config[inventory_key])
        for f in sorted(fields - written):
            problems.append(f"undocumented config field: {title.lower()} {f} (docs/CONFIG.md)")
        for f in sorted(written - fields):
            problems.append(f"stale: docs/CONFIG.md documents {title.lower()} field {f}, which the loader no longer accepts")
        coverage[f"config: {title.lower()}"] = (len(fields & written), len(fields))

    # Metrics: each named in the docs; each evalengine_ metric the docs name exists.
    named = {re.sub(r"_(bucket|count|sum)$", "", m) for m in re.findall(r"(?<![\w:])(evalengine_[a-z0-9_]+)", everything)}
    for m in sorted(metrics - named):
        problems.append(f"undocumented metric: {m}")
    for m in sorted(named - metrics):
        problems.append(f"stale: the docs name the metric {m}, which the code no longer exports")
    for m in sorted(argo_metrics):
        if not re.search(rf"(?<![\w:]){re.escape(m)}(?![\w])", everything):
            problems.append(f"undocumented Argo metric: {m} (configs/argo/)")
    coverage["metrics"] = (len(metrics & named) + sum(1 for m in argo_metrics if m in everything), len(metrics) + len(argo_metrics))

    # Routes: docs/API.md's `METHOD /path`.
    api = docs.get("docs/API.md", "")
    written = set(re.findall(r"(?m)^\| `(GET|POST|PUT|DELETE) (/[^`\s?]*)", api))
    for method, path in sorted(routes - written):
        problems.append(f"undocumented route: {method} {path} (docs/API.md)")
    for method, path in sorted(written - routes):
        problems.append(f"stale: docs/API.md documents {method} {path}, which the service no longer serves")
    coverage["routes"] = (len(routes & written), len(routes))
    return problems, coverage


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build/debug/evalengine"))
    a = ap.parse_args()
    cli = cli_inventory(a.bin)
    config = json.loads(subprocess.run([a.bin, "docs-inventory"], capture_output=True, text=True, check=True).stdout)
    metrics, argo_metrics = code_metrics()
    routes = code_routes()
    docs = read_docs()
    problems, coverage = check(a.bin, cli, config, metrics, argo_metrics, routes, docs)
    for what, (n, total) in coverage.items():
        print(f"  {what:28s} {n:4d} of {total:4d} documented ({100 * n / max(total, 1):.1f}%)")
    n = sum(c[0] for c in coverage.values())
    total = sum(c[1] for c in coverage.values())
    print(f"  {'all':28s} {n:4d} of {total:4d} ({100 * n / max(total, 1):.1f}%)")

    # The check must be able to fail: take a documented flag out of the code's inventory and put
    # an undocumented metric in, and expect both to be reported.
    removed = ("validate", "--max-pricing-age-days")
    pretend = {k: set(v) for k, v in cli.items()}
    pretend[removed[0]].discard(removed[1])
    found, _ = check(a.bin, pretend, config, metrics | {"evalengine_not_documented_total"}, argo_metrics, routes, docs)
    stale = [p for p in found if removed[1] in p and p.startswith("stale")]
    extra = [p for p in found if "evalengine_not_documented_total" in p]
    if not stale or not extra:
        problems.append("self-test: a removed flag or an added metric went unnoticed: the check cannot fail")
    else:
        print(f"  self-test: with {removed[1]} taken out of evalengine validate, {len(stale)} stale mentions are reported "
              f"(first: {stale[0]}); an added metric is reported undocumented")
    for p in problems:
        print("PROBLEM:", p)
    print("docs-check:", "ok" if not problems else f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
