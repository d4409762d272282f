#!/usr/bin/env python3
"""The web view (/ui) in headless Chromium, as the people on call see it.

Starts `evalengine serve` on loopback with in-process simulated endpoints, makes a passing eval,
a failing eval (one of whose outputs is HTML: `<script>alert(1)</script>`), a shadow comparison
and two runs of a test suite with flaky cases, then screenshots /ui, the three job pages and the
suite's history and measures them: the verdict badges' colours, the latency and pass-rate plots'
lines, the tables' borders. The failing page's DOM (Chromium's --dump-dom) must hold the HTML
output as text and no script element at all. Also writes the eval stage's offline page
(`eval --html`) and checks it is the same job page.

  python3 scripts/check-ui.py --bin .build/debug/evalengine [--out out/ui]
Exits non-zero naming what is missing."""
import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "reliability"))
from common import Server, http  # noqa: E402

spec = importlib.util.spec_from_file_location("check_html_report", os.path.join(HERE, "check-html-report.py"))
png = importlib.util.module_from_spec(spec)
spec.loader.exec_module(png)

GREEN, RED, BLUE, ORANGE, BORDER, PURPLE = "#2ca02c", "#d62728", "#1f77b4", "#ff7f0e", "#d0d7de", "#9467bd"


def chromium():
    return next((c for c in ("chromium", "chromium-browser", "google-chrome") if shutil.which(c)), None)


def screenshot(browser, url, path, height=1800):
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1",
           f"--window-size=1280,{height}", f"--screenshot={path}", url]
    subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if not os.path.exists(path):
        raise RuntimeError(f"Chromium wrote no screenshot of {url}")
    width, h, rows, bpp = png.decode_png(path)
    return rows, bpp


def dom(browser, url):
    r = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", url], capture_output=True, text=True, timeout=120)
    return r.stdout


def setup(work):
    data = os.path.join(work, "data")
    os.makedirs(data)
    shutil.copy(os.path.join(ROOT, "golden-sets/qa/cases.jsonl"), os.path.join(data, "qa.jsonl"))
    shutil.copy(os.path.join(ROOT, "golden-sets/qa/prompt.yaml"), os.path.join(data, "prompt.yaml"))
    with open(os.path.join(data, "qa.jsonl")) as f:
        qa = f.read()
    hostile = json.dumps({"id": "html-output", "vars": {"question": "Repeat exactly: <script>alert(1)</script> <b>bold</b> & done"},
                          "assert": [{"type": "contains", "value": "never-there"}]})
    open(os.path.join(data, "hostile.jsonl"), "w").write(qa + hostile + "\n")
    lines = [json.dumps({"id": f"q{i}", "vars": {"question": f"What is {i} + 7?"}, "expected": str(i + 7)}) for i in range(80)]
    open(os.path.join(data, "arith.jsonl"), "w").write("\n".join(lines) + "\n")
    shutil.copytree(os.path.join(ROOT, "golden-sets/rag"), os.path.join(data, "rag"))
    open(os.path.join(data, "sampled.yaml"), "w").write('messages:\n  - {role: user, content: "{{question}}"}\nparams: {temperature: 1.0}\n')
    open(os.path.join(work, "default.yaml"), "w").write("accuracy: 0.9\nmodel_accuracy: {sim-weak: 0.3}\nlatency: {distribution: lognormal, median_ms: 20, p99_ms: 90}\n")
    open(os.path.join(work, "degraded.yaml"), "w").write("accuracy: 0.7\nlatency: {distribution: lognormal, median_ms: 35, p99_ms: 160}\n")
    open(os.path.join(work, "endpoints.yaml"), "w").write(
        "endpoints:\n"
        "  - {name: sim, model: sim-small, simulated: {profile: default.yaml}, max_in_flight: 32, pricing: {input_per_million: 0.15, output_per_million: 0.6}}\n"
        "  - {name: weak, model: sim-weak, simulated: {profile: default.yaml}, max_in_flight: 32, pricing: {input_per_million: 0.15, output_per_million: 0.6}}\n"
        "  - {name: degraded, model: sim-small, simulated: {profile: degraded.yaml}, max_in_flight: 32, pricing: {input_per_million: 0.1, output_per_million: 0.4}}\n")
    open(os.path.join(work, "service.yaml"), "w").write(
        "endpoints: endpoints.yaml\ndata_dir: data\nstore: state/service.sqlite\nreports_dir: state/reports\n"
        "test_suites:\n  nightly:\n    description: the QA prompt, sampled, twice a run\n    repeats: 2\n    requests:\n"
        "      - {name: arith-sampled, stage: eval, body: {golden_set: {ref: arith.jsonl}, prompt: {ref: sampled.yaml}, endpoint: sim, thresholds: {min_pass_rate: 0.5}}}\n"
        "      - {name: qa-weak, stage: eval, body: {golden_set: {ref: arith.jsonl}, prompt: {ref: prompt.yaml}, endpoint: weak, thresholds: {min_pass_rate: 0.9}}}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/debug/evalengine")
    ap.add_argument("--out", default="out/ui")
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    browser = chromium()
    if browser is None:
        sys.exit("check-ui: no Chromium (Debian: apt-get install chromium; scripts/install-deps.sh does it)")
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="evalengine-ui-")
    setup(work)
    server = Server(binary, os.path.join(work, "service.yaml"), work, os.path.join(work, "server.err"))
    problems = []
    try:
        base = server.base

        def submit(stage, body):
            st, _, env = http("POST", f"{base}/v1/{stage}?wait=120", body, timeout=180)
            if st != 200 or env.get("state") != "completed":
                raise RuntimeError(f"{stage} did not complete: {st} {str(env)[:300]}")
            return env

        passing = submit("eval", {"golden_set": {"ref": "qa.jsonl"}, "prompt": {"ref": "prompt.yaml"}, "endpoint": "sim", "thresholds": {"min_pass_rate": 0.85}})
        failing = submit("eval", {"golden_set": {"ref": "hostile.jsonl"}, "prompt": {"ref": "prompt.yaml"}, "endpoint": "weak", "thresholds": {"min_pass_rate": 0.9}})
        shadow = submit("shadow-compare", {"cases": {"ref": "qa.jsonl"}, "baseline": {"endpoint": "sim", "prompt": {"ref": "prompt.yaml"}},
                                           "candidate": {"endpoint": "degraded"}, "thresholds": {"margin": 0.02}})
        index = submit("index-test", {"corpus": {"ref": "rag/corpus.jsonl"}, "queries": {"ref": "rag/queries.jsonl"}, "qrels": {"ref": "rag/qrels.txt"},
                                      "baseline_config": {"ref": "rag/baseline.yaml"}, "candidate_config": {"ref": "rag/bad-candidate.yaml"},
                                      "thresholds": {"max_drop": {"ndcg_cut_10": 0.02}}})
        for key in ("night-1", "night-2"):
            st, _, run = http("POST", f"{base}/v1/test-suites/nightly/runs?wait=120", None, {"Idempotency-Key": key}, timeout=180)
            if st != 200:
                raise RuntimeError(f"suite run {key}: {st} {str(run)[:300]}")
        print(f"jobs: eval {passing['verdict']}, eval {failing['verdict']}, shadow-compare {shadow['verdict']}, index-test {index['verdict']}; 2 suite runs")
        if passing["verdict"] != "pass" or failing["verdict"] != "fail":
            problems.append(f"the evals did not come out pass and fail ({passing['verdict']}, {failing['verdict']})")

        pages = [
            ("index", "/ui", {"green badges": (GREEN, 300), "red badges": (RED, 200), "table borders": (BORDER, 2000)}),
            ("eval-pass", f"/ui/jobs/{passing['job_id']}", {"pass badge": (GREEN, 300), "latency line": (BLUE, 300), "table borders": (BORDER, 2000)}),
            ("eval-fail", f"/ui/jobs/{failing['job_id']}", {"fail badges": (RED, 1000), "latency line": (BLUE, 300), "table borders": (BORDER, 3000)}),
            ("shadow", f"/ui/jobs/{shadow['job_id']}", {"baseline line": (BLUE, 300), "candidate line": (ORANGE, 300)}),
            ("index-test", f"/ui/jobs/{index['job_id']}", {"verdict badge": (RED if index["verdict"] == "fail" else GREEN, 300), "table borders": (BORDER, 2000)}),
            ("suite", "/ui/test-suites/nightly", {"pass-rate trend": (PURPLE, 300), "table borders": (BORDER, 1000)}),
        ]
        for name, path, wanted in pages:
            st, headers, body = http("GET", base + path)
            text = body.decode() if isinstance(body, bytes) else json.dumps(body)
            if st != 200 or "text/html" not in headers.get("Content-Type", ""):
                problems.append(f"{path}: {st} {headers.get('Content-Type')}")
                continue
            if re.search(r"<script", text, re.I) and name != "shadow":
                problems.append(f"{path}: the page carries a script element")
            shot = os.path.abspath(os.path.join(a.out, f"ui-{name}.png"))
            rows, bpp = screenshot(browser, base + path, shot)
            counts, white = png.count_colours(rows, bpp, {k: v[0] for k, v in wanted.items()})
            line = []
            for k, (colour, need) in wanted.items():
                ok = counts[k] >= need
                line.append(f"{k} {colour} {counts[k]} px (>= {need}) {'ok' if ok else 'MISSING'}")
                if not ok:
                    problems.append(f"{path}: {k} ({colour}) has {counts[k]} pixels, fewer than {need}")
            print(f"  {name:10s} {shot}: " + "; ".join(line))

        # The hostile output: text on the page, never markup.
        page = dom(browser, base + f"/ui/jobs/{failing['job_id']}")
        if "<script" in page.lower():
            problems.append("the failing eval's page has a script element in its DOM: an output's HTML was not escaped")
        if "&lt;script&gt;alert(1)&lt;/script&gt;" not in page:
            problems.append("the failing eval's page does not show the HTML output as text")
        else:
            print("  an output of <script>alert(1)</script> <b>bold</b> shows as text: no script or b element in the DOM"
                  if "<b>bold</b>" not in page else "  WARNING: <b> rendered")
            if "<b>bold</b>" in page:
                problems.append("an output's <b> rendered as markup")
        # A job that does not exist, and a suite that does not: 404 pages, not crashes.
        for path in ("/ui/jobs/job_nope", "/ui/test-suites/nope"):
            st, _, _ = http("GET", base + path)
            if st != 404:
                problems.append(f"{path}: {st}, expected 404")

        # The offline page: `eval --html` draws the same job page.
        offline = os.path.join(work, "offline.html")
        r = subprocess.run([binary, "eval", "--golden", os.path.join(work, "data/hostile.jsonl"), "--prompt", os.path.join(work, "data/prompt.yaml"),
                            "--endpoint", "weak", "--config", os.path.join(work, "endpoints.yaml"), "--html", offline, "--quiet",
                            "--cache-path", os.path.join(work, "cli.sqlite")], capture_output=True, text=True, cwd=work, timeout=300)
        if not os.path.exists(offline):
            problems.append(f"eval --html wrote nothing (exit {r.returncode}): {r.stderr[-500:]}")
        else:
            text = open(offline).read()
            shot = os.path.abspath(os.path.join(a.out, "eval-offline.png"))
            rows, bpp = screenshot(browser, "file://" + offline, shot)
            counts, _ = png.count_colours(rows, bpp, {"fail badges": RED, "latency line": BLUE})
            if "<script" in text.lower() or counts["fail badges"] < 1000 or counts["latency line"] < 300:
                problems.append(f"the offline eval page is not the job page: {counts}")
            else:
                print(f"  eval --html {shot}: fail badges {counts['fail badges']} px, latency line {counts['latency line']} px, no script")
    finally:
        server.stop()
    for p in problems:
        print("PROBLEM:", p)
    print("check-ui:", "ok" if not problems else f"{len(problems)} problems")
    shutil.rmtree(work, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
