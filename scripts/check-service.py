#!/usr/bin/env python3
"""Checks the running service the way its operators will: starts `evalengine serve` on loopback
(simulated endpoints in-process), runs an eval through it, then

  1. `promtool check metrics` on GET /metrics (Debian `prometheus`): no lint problem;
  2. a real Prometheus on loopback scrapes it and answers
     histogram_quantile(0.95, sum by (le) (evalengine_case_duration_seconds_bucket));
  3. /openapi.json passes openapi-spec-validator (PyPI);
  4. schemathesis (PyPI) fuzzes every operation of the spec against the live server and finds
     no 5xx (`not_a_server_error`).

Needs promtool/prometheus (scripts/install-deps.sh) and pip; installs the two PyPI tools when
missing. Exits non-zero on the first failed check."""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def post(url, body, timeout=120):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, json.loads(r.read())


def ensure_pip(module, package):
    try:
        __import__(module)
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/debug/evalengine")
    ap.add_argument("--examples", type=int, default=30, help="schemathesis examples per operation")
    ap.add_argument("--seed", type=int, default=1, help="schemathesis seed")
    args = ap.parse_args()
    root = os.getcwd()
    work = tempfile.mkdtemp(prefix="evalengine-service-")
    for tool in ("promtool", "prometheus"):
        if not shutil.which(tool):
            sys.exit(f"check-service: {tool} not found (Debian: apt-get install prometheus; scripts/install-deps.sh does it)")
    with open(os.path.join(work, "service.yaml"), "w") as f:
        f.write(f"endpoints: {root}/configs/endpoints.yaml\ndata_dir: {root}\nstore: {work}/service.sqlite\nreports_dir: {work}/reports\n"
                "limits: {max_wait_seconds: 5}\n")
    server = subprocess.Popen([os.path.abspath(args.bin), "serve", "--config", os.path.join(work, "service.yaml"), "--port", "0", "--log-level", "error"],
                              cwd=root, stdout=subprocess.PIPE, stderr=open(os.path.join(work, "server.err"), "w"), text=True)
    prom = None
    try:
        line = server.stdout.readline()
        if "serving on" not in line:
            sys.exit(f"check-service: the server did not start: {line}{open(os.path.join(work, 'server.err')).read()}")
        base = line.strip().split("serving on ")[1]
        status, env = post(base + "/v1/eval?wait=60", {"golden_set": {"ref": "golden-sets/qa/cases.jsonl"}, "prompt": {"ref": "golden-sets/qa/prompt.yaml"},
                                                     "endpoint": "sim", "thresholds": {"min_pass_rate": 0.9}})
        assert status == 200 and env["verdict"] == "pass", env
        print(f"eval through the service: {env['job_id']} {env['state']} verdict {env['verdict']}")

        # 1. promtool
        _, metrics = get(base + "/metrics")
        r = subprocess.run(["promtool", "check", "metrics"], input=metrics, capture_output=True)
        if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
            sys.exit(f"check-service: promtool check metrics failed (exit {r.returncode}):\n{r.stdout.decode()}{r.stderr.decode()}")
        families = sum(1 for l in metrics.decode().splitlines() if l.startswith("# TYPE"))
        print(f"promtool check metrics: clean ({families} metric families, {len(metrics)} bytes)")

        # 2. a real Prometheus scrapes it
        port = free_port()
        target = urllib.parse.urlparse(base).netloc
        with open(os.path.join(work, "prometheus.yml"), "w") as f:
            f.write(f"global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n  - job_name: evalengine\n    static_configs: [{{targets: ['{target}']}}]\n")
        prom = subprocess.Popen(["prometheus", f"--config.file={work}/prometheus.yml", f"--storage.tsdb.path={work}/tsdb",
                                 f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "prometheus.err"), "w"))
        query = "histogram_quantile(0.95, sum by (le) (evalengine_case_duration_seconds_bucket))"
        value = None
        for _ in range(120):
            time.sleep(0.5)
            try:
                _, body = get(f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query}), timeout=5)
            except Exception:
                continue
            result = json.loads(body)["data"]["result"]
            if result:
                value = float(result[0]["value"][1])
                break
        if value is None or value != value:
            sys.exit(f"check-service: Prometheus did not answer {query}\n{open(os.path.join(work, 'prometheus.err')).read()[-2000:]}")
        print(f"prometheus scraped the service: {query} = {value:.4f} s")

        # 3. the spec is valid OpenAPI
        ensure_pip("openapi_spec_validator", "openapi-spec-validator")
        from openapi_spec_validator import validate
        _, spec = get(base + "/openapi.json")
        validate(json.loads(spec))
        print("openapi-spec-validator: /openapi.json is valid OpenAPI " + json.loads(spec)["openapi"])

        # 4. schemathesis finds no 5xx
        if not shutil.which("st"):
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "schemathesis"], check=True)
        r = subprocess.run(["st", "run", base + "/openapi.json", "--checks", "not_a_server_error", "-n", str(args.examples),
                            "--request-timeout", "30", "--no-color", "--seed", str(args.seed)], capture_output=True, text=True)
        tail = "\n".join(r.stdout.strip().splitlines()[-12:])
        if r.returncode != 0:
            sys.exit(f"check-service: schemathesis found server errors (exit {r.returncode}):\n{r.stdout[-6000:]}\n{r.stderr[-2000:]}")
        print("schemathesis (not_a_server_error):\n" + tail)
        print("check-service: ok")
    finally:
        if prom:
            prom.terminate()
            prom.wait()
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
