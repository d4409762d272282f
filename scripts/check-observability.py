#!/usr/bin/env python3
"""Checks the observability pack (configs/observability/) with the tools its users run:

  1. rules: `promtool check rules`; rules.test.yaml is what gen_rules_test.py writes; `promtool test
     rules` passes; every recording rule and every alert has a test; and moving any alert threshold
     by a factor of two (or a histogram bucket bound to another bucket) makes the tests fail.
  2. dashboard: a real Prometheus is loaded with two days of generated series
     (`promtool tsdb create-blocks-from openmetrics`) and the recording rules backfilled over them
     (`promtool tsdb create-blocks-from rules`); every panel's every query must return data there.
     A copy of the dashboard with one metric name misspelt must fail the same check.

  python3 scripts/check-observability.py [--only rules|dashboard] [--quick]   (--quick: one mutation per threshold)
Exits non-zero naming every problem."""
import argparse
import concurrent.futures
import json
import math
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OBS = os.path.join(ROOT, "configs", "observability")

try:
    import yaml
except ImportError:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "pyyaml"], check=True)
    import yaml


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# ---------------------------------------------------------------- rules

def rules_check(quick):
    problems = []
    r = run(["promtool", "check", "rules", os.path.join(OBS, "rules.yaml")])
    print(f"$ promtool check rules configs/observability/rules.yaml\n  {r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr.strip()}")
    if r.returncode != 0:
        return [f"promtool check rules: {r.stdout}{r.stderr}"]
    if run([sys.executable, os.path.join(OBS, "gen_rules_test.py"), "--check"]).returncode != 0:
        problems.append("configs/observability/rules.test.yaml is stale: run python3 configs/observability/gen_rules_test.py")
    t0 = time.time()
    r = run(["promtool", "test", "rules", "rules.test.yaml"], cwd=OBS)
    print(f"$ promtool test rules configs/observability/rules.test.yaml\n  {'SUCCESS' if r.returncode == 0 else 'FAILED'} in {time.time() - t0:.1f} s")
    if r.returncode != 0:
        return problems + [f"promtool test rules failed:\n{r.stdout[-3000:]}{r.stderr[-2000:]}"]

    rules = yaml.safe_load(open(os.path.join(OBS, "rules.yaml")))
    tests = yaml.safe_load(open(os.path.join(OBS, "rules.test.yaml")))
    records = [rule["record"] for g in rules["groups"] for rule in g["rules"] if "record" in rule]
    alerts = [rule for g in rules["groups"] for rule in g["rules"] if "alert" in rule]
    exprs = [t["expr"] for g in tests["tests"] for t in g.get("promql_expr_test", [])]
    alert_tests = [t for g in tests["tests"] for t in g.get("alert_rule_test", [])]
    for name in records:
        n = sum(1 for e in exprs if re.search(rf"(?<![\w:]){re.escape(name)}(?![\w:])", e))
        if n == 0:
            problems.append(f"recording rule {name} has no promql_expr_test")
    for a in alerts:
        fired = sum(1 for t in alert_tests if t["alertname"] == a["alert"] and t["exp_alerts"])
        quiet = sum(1 for t in alert_tests if t["alertname"] == a["alert"] and not t["exp_alerts"])
        if fired == 0 or quiet == 0:
            problems.append(f"alert {a['alert']} needs a test where it fires and one where it does not ({fired} and {quiet})")
    print(f"  {len(records)} recording rules, each tested ({len(exprs)} expression tests); {len(alerts)} alerts, each tested firing and quiet ({len(alert_tests)} alert tests)")
    problems += mutation_check(alerts, quick)
    return problems


def mutations(alerts, quick):
    """(description, rules.yaml text) for every alert threshold moved by x2 and x0.5 (both operands
    of a multi-window pair together: they are one threshold), and every bucket bound the SLOs count
    under moved to the next bucket."""
    text = open(os.path.join(OBS, "rules.yaml")).read()
    out = []
    for a in alerts:
        m = re.search(rf"(?m)^      - alert: {a['alert']}\n(?:(?!      - |  - name).*\n)*", text)
        block = m.group(0)
        expr_part, rest = block.split("        labels:", 1)
        for v in sorted(set(re.findall(r">\s*([0-9]*\.?[0-9]+)", a["expr"]))):
            for factor in ([2] if quick else [2, 0.5]):
                new = f"{float(v) * factor:g}"
                mutated = re.sub(rf">\s*{re.escape(v)}(?![0-9])", f"> {new}", expr_part) + "        labels:" + rest
                out.append((f"{a['alert']}: {v} -> {new}", text[:m.start()] + mutated + text[m.end():], a["alert"]))
    for old, new in [('le="1800"', 'le="3600"'), ('le="0.25"', 'le="+Inf"')]:
        out.append((f"bucket {old} -> {new}", text.replace(old, new), None))
    return out


def tests_for(alert):
    """rules.test.yaml, cut to the groups that test `alert` (those with value tests for None): an alert's
    threshold changes nothing else, and promtool has no filter of its own."""
    doc = yaml.safe_load(open(os.path.join(OBS, "rules.test.yaml")))
    if alert is None:
        doc["tests"] = [g for g in doc["tests"] if g.get("promql_expr_test")]
    else:
        doc["tests"] = [g for g in doc["tests"] if any(t["alertname"] == alert for t in g.get("alert_rule_test", []))]
    return yaml.safe_dump(doc, sort_keys=False)


def mutation_check(alerts, quick):
    cases = mutations(alerts, quick)
    work = tempfile.mkdtemp(prefix="evalengine-mut-")

    def one(i_case):
        i, (what, text, alert) = i_case
        d = os.path.join(work, str(i))
        os.makedirs(d)
        open(os.path.join(d, "rules.yaml"), "w").write(text)
        open(os.path.join(d, "rules.test.yaml"), "w").write(tests_for(alert))
        r = run(["promtool", "test", "rules", "rules.test.yaml"], cwd=d)
        return what, r.returncode != 0, text == open(os.path.join(OBS, "rules.yaml")).read()

    t0 = time.time()
    problems = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one, enumerate(cases)))
    caught = 0
    for what, failed, unchanged in results:
        if unchanged:
            problems.append(f"mutation '{what}' did not change rules.yaml (the check cannot find the threshold)")
        elif not failed:
            problems.append(f"the tests still pass with {what}: no test holds that threshold")
        else:
            caught += 1
    shutil.rmtree(work, ignore_errors=True)
    print(f"  mutations: {caught} of {len(results)} thresholds and bucket bounds moved make `promtool test rules` fail ({time.time() - t0:.0f} s)")
    return problems


# ---------------------------------------------------------------- dashboard

STEP = 60           # seconds between generated samples
HOURS = 48          # generated history
RULE_HOURS = 6      # recording rules backfilled over the last hours (the dashboard's default range)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def generate_openmetrics(path, end):
    """Two days of the series the rules and panels read: Argo's custom metrics as the templates in
    configs/argo/ emit them and the service's own, with a little noise."""
    rnd = random.Random(7)
    start = end - HOURS * 3600
    times = list(range(start, end + 1, STEP))
    families = {}

    def counter(name, labels, per_minute):
        v, values = 0.0, []
        for _ in times:
            v += max(0.0, per_minute * (STEP / 60) * rnd.uniform(0.6, 1.4))
            values.append(round(v, 3))
        families.setdefault(name, []).append((labels, values))

    def gauge(name, labels, center, spread):
        families.setdefault(name, []).append((labels, [round(center + rnd.uniform(-spread, spread), 3) for _ in times]))

    def histogram(name, labels, per_minute, bounds, shares):
        """shares: cumulative share of observations at or below each bound."""
        total = 0.0
        buckets = [[] for _ in bounds] + [[]]
        counts, sums = [], []
        s = 0.0
        for _ in times:
            n = per_minute * (STEP / 60) * rnd.uniform(0.6, 1.4)
            total += n
            s += n * bounds[len(bounds) // 2]
            for i, share in enumerate(shares):
                buckets[i].append(round(total * share, 3))
            buckets[-1].append(round(total, 3))
            counts.append(round(total, 3))
            sums.append(round(s, 3))
        for b, values in zip([*map(str, bounds), "+Inf"], buckets):
            families.setdefault(name + "_bucket", []).append(({**labels, "le": b}, values))
        families.setdefault(name + "_count", []).append((labels, counts))
        families.setdefault(name + "_sum", []).append((labels, sums))

    R = "argo_workflows_prompt_pipeline_result_total"
    for artifact, scale in [("prompt", 1.0), ("model-config", 0.3), ("rag-config", 0.2)]:
        for stage, results in [("pipeline", {"Succeeded": 0.08, "Failed": 0.015, "Error": 0.001}), ("lint", {"Succeeded": 0.1, "Failed": 0.005}),
                               ("validate", {"Succeeded": 0.1, "Failed": 0.004}), ("eval", {"Succeeded": 0.09, "Failed": 0.015, "Error": 0.001}),
                               ("promote", {"Succeeded": 0.08}), ("revert", {"Succeeded": 0.002})]:
            for result, rate in results.items():
                counter(R, {"stage": stage, "result": result, "artifact_type": artifact}, rate * scale)
        histogram("argo_workflows_pipeline_promotion_velocity_seconds", {"artifact_type": artifact}, 0.08 * scale,
                  [300, 600, 900, 1800, 3600], [0.2, 0.55, 0.8, 0.97, 0.995])
        histogram("argo_workflows_prompt_pipeline_duration_seconds", {"artifact_type": artifact}, 0.1 * scale,
                  [60, 300, 600, 1200, 1800, 3600], [0.05, 0.4, 0.8, 0.95, 0.99, 0.999])
    for gate in ["eval", "shadow-compare", "index-test"]:
        counter("argo_workflows_pipeline_gate_false_positive_total", {"gate": gate}, 0.002)
        if gate != "eval":
            counter(R, {"stage": gate, "result": "Succeeded", "artifact_type": "model-config"}, 0.03)
            counter(R, {"stage": gate, "result": "Failed", "artifact_type": "model-config"}, 0.006)
    bounds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0]
    for route, method, per_minute, shares in [
        ("/v1/eval", "POST", 3, [0, 0, 0, 0, 0, 0, 0, 0.01, 0.05, 0.3, 0.8, 0.99]),
        ("/v1/jobs/:id", "GET", 20, [0, 0.1, 0.4, 0.7, 0.8, 0.85, 0.9, 0.92, 0.95, 0.97, 0.99, 0.999]),
        ("/v1/jobs/:id/report", "GET", 2, [0, 0.05, 0.3, 0.6, 0.8, 0.9, 0.95, 0.98, 0.995, 0.999, 1, 1]),
        ("/v1/audit", "GET", 0.5, [0, 0.1, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 1, 1, 1]),
        ("/readyz", "GET", 6, [0.5, 0.9, 0.99, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
    ]:
        histogram("evalengine_http_request_duration_seconds", {"route": route, "method": method, "status": "200"}, per_minute,
                  [b for b in bounds], [min(1.0, s) for s in shares])
    histogram("evalengine_http_request_duration_seconds", {"route": "/v1/eval", "method": "POST", "status": "503"}, 0.01, bounds, [0, 0.5] + [1] * 10)
    for endpoint in ["sim", "gpt-4o-mini"]:
        for outcome, rate in [("ok", 40), ("rate_limited", 0.8), ("timeout", 0.05)]:
            histogram("evalengine_endpoint_request_duration_seconds", {"endpoint": endpoint, "outcome": outcome}, rate,
                      [0.1, 0.5, 1, 5, 30], [0.1, 0.5, 0.8, 0.99, 1])
    for stage in ["eval", "shadow-compare", "index-test"]:
        for result, rate in [("pass", 0.05), ("fail", 0.01), ("inconclusive", 0.002)]:
            counter("evalengine_gate_results_total", {"stage": stage, "purpose": "gate", "result": result}, rate)
    for state, center in [("queued", 1), ("running", 2), ("completed", 400), ("errored", 3), ("cancelled", 1)]:
        gauge("evalengine_jobs", {"state": state}, center, min(center, 2))
    gauge("evalengine_store_bytes", {}, 60e6, 2e6)
    for kind in ["jobs", "runs", "responses", "files"]:
        counter("evalengine_retention_removed_total", {"kind": kind}, 2)

    with open(path, "w") as f:
        for name, series in families.items():
            f.write(f"# TYPE {name} unknown\n")
            for labels, values in series:
                lab = ",".join(f'{k}="{v}"' for k, v in labels.items())
                prefix = f"{name}{{{lab}}}" if lab else name
                for t, v in zip(times, values):
                    f.write(f"{prefix} {v} {t}\n")
        f.write("# EOF\n")
    return sum(len(s) for s in families.values())


class Prometheus:
    def __init__(self, data, work):
        self.port = free_port()
        config = os.path.join(work, "prometheus.yml")
        open(config, "w").write("global: {evaluation_interval: 1m}\nscrape_configs: []\n")
        self.log = open(os.path.join(work, f"prometheus-{self.port}.log"), "w")
        self.proc = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={data}", "--storage.tsdb.retention.time=30d",
                                      f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"], stdout=self.log, stderr=self.log)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(self.url + "/-/ready", timeout=2).status == 200:
                    return
            except Exception:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("Prometheus did not become ready: " + open(self.log.name).read()[-2000:])

    def query(self, expr, at):
        q = urllib.parse.urlencode({"query": expr, "time": str(at)})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{q}", timeout=60) as r:
            return json.load(r)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def panel_queries(dashboard):
    out = []
    for p in dashboard["panels"]:
        for t in p.get("targets", []):
            out.append((p["title"], t["refId"], t["expr"]))
    return out


def concrete(expr):
    """The query Grafana sends, with its variables given values."""
    return (expr.replace("$__rate_interval", "5m").replace("$__interval", "1m").replace("$__range", "6h")
            .replace('"$artifact_type"', '".*"'))


def check_panels(prom, dashboard, at):
    problems, ok = [], 0
    for title, ref, expr in panel_queries(dashboard):
        try:
            answer = prom.query(concrete(expr), at)
        except Exception as e:
            problems.append(f"panel '{title}' query {ref}: {e}")
            continue
        result = answer.get("data", {}).get("result", [])
        finite = [r for r in result if not math.isnan(float(r["value"][1])) and not math.isinf(float(r["value"][1]))]
        if answer.get("status") != "success" or not finite:
            problems.append(f"panel '{title}' query {ref} returns no data: {expr}")
        else:
            ok += 1
    return ok, problems


def dashboard_structure(dashboard):
    problems = []
    ids = [p.get("id") for p in dashboard.get("panels", [])]
    if len(ids) != len(set(ids)):
        problems.append("dashboard panel ids are not unique")
    for p in dashboard.get("panels", []):
        if not p.get("targets"):
            problems.append(f"panel '{p.get('title')}' has no query")
        if p.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"panel '{p.get('title')}' does not use the dashboard's datasource variable")
        if not all(k in p.get("gridPos", {}) for k in "xywh"):
            problems.append(f"panel '{p.get('title')}' has no gridPos")
    return problems


def dashboard_check():
    dashboard = json.load(open(os.path.join(OBS, "dashboard.json")))
    problems = dashboard_structure(dashboard)
    work = tempfile.mkdtemp(prefix="evalengine-prom-")
    data = os.path.join(work, "data")
    end = (int(time.time()) // 3600) * 3600 - 600
    t0 = time.time()
    om = os.path.join(work, "series.om")
    n = generate_openmetrics(om, end)
    r = run(["promtool", "tsdb", "create-blocks-from", "openmetrics", om, data])
    if r.returncode != 0:
        return problems + [f"promtool tsdb create-blocks-from openmetrics: {r.stdout[-1500:]}{r.stderr[-1500:]}"]
    print(f"$ promtool tsdb create-blocks-from openmetrics  ({n} series, {HOURS} h at {STEP} s, {time.time() - t0:.0f} s)")
    prom = Prometheus(data, work)
    try:
        t1 = time.time()
        rules_out = os.path.join(work, "rules-blocks")
        r = run(["promtool", "tsdb", "create-blocks-from", "rules", f"--start={end - RULE_HOURS * 3600}", f"--end={end}",
                 f"--url={prom.url}", f"--output-dir={rules_out}", "--eval-interval=60s", os.path.join(OBS, "rules.yaml")])
        if r.returncode != 0:
            return problems + [f"promtool tsdb create-blocks-from rules: {r.stdout[-1500:]}{r.stderr[-1500:]}"]
        print(f"$ promtool tsdb create-blocks-from rules configs/observability/rules.yaml  (last {RULE_HOURS} h, {time.time() - t1:.0f} s)")
    finally:
        prom.stop()
    for block in os.listdir(rules_out):
        shutil.move(os.path.join(rules_out, block), os.path.join(data, block))
    prom = Prometheus(data, work)
    try:
        ok, panel_problems = check_panels(prom, dashboard, end)
        problems += panel_problems
        total = len(panel_queries(dashboard))
        print(f"  dashboard: {ok} of {total} panel queries return data from Prometheus {prom_version()} "
              f"({len(dashboard['panels'])} panels)")
        # The check must catch a misspelt metric: in a copy, misspell each query's first metric name
        # in turn (drop a letter from its middle) and expect exactly that query to be reported.
        with urllib.request.urlopen(prom.url + "/api/v1/label/__name__/values", timeout=30) as r:
            names = set(json.load(r)["data"])
        caught, tried = 0, 0
        for p in dashboard["panels"]:
            for t in p["targets"]:
                name = next((tok for tok in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", t["expr"]) if tok in names), None)
                if name is None:
                    problems.append(f"panel '{p['title']}' query {t['refId']} names no metric Prometheus has")
                    continue
                typo = name[:len(name) // 2] + name[len(name) // 2 + 1:]
                broken = {"panels": [{"title": p["title"], "targets": [{**t, "expr": re.sub(rf"(?<![\w:]){re.escape(name)}(?![\w:])", typo, t["expr"])}]}]}
                tried += 1
                _, found = check_panels(prom, broken, end)
                if found:
                    caught += 1
                else:
                    problems.append(f"panel '{p['title']}' query {t['refId']} still returns data with {name} misspelt as {typo}: the check cannot fail")
        print(f"  self-test: {caught} of {tried} queries with their metric name misspelt are reported")
    finally:
        prom.stop()
        shutil.rmtree(work, ignore_errors=True)
    return problems


def prom_version():
    r = run(["prometheus", "--version"])
    m = re.search(r"version (\S+)", r.stdout + r.stderr)
    return m.group(1) if m else "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["rules", "dashboard"])
    ap.add_argument("--quick", action="store_true", help="one mutation per threshold (x2) instead of two")
    a = ap.parse_args()
    for tool in ["promtool", "prometheus"]:
        if shutil.which(tool) is None:
            print(f"check-observability: {tool} not found (scripts/install-deps.sh installs Debian's prometheus)")
            return 1
    problems = []
    if a.only in (None, "rules"):
        problems += rules_check(a.quick)
    if a.only in (None, "dashboard"):
        problems += dashboard_check()
    for p in problems:
        print("PROBLEM:", p)
    print("check-observability:", "ok" if not problems else f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
