#!/usr/bin/env python3
"""Runs `evalengine index-test` on the RAG sample and scores the run files it wrote with
pytrec_eval-terrier 0.5.11: every reported mean must equal pytrec_eval's (|diff| <= 1e-12).
    scripts/crosscheck-index-test.py [--bin .build/debug/evalengine]
"""
import argparse, json, os, subprocess, sys, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--bin", default=".build/debug/evalengine")
args = ap.parse_args()
try:
    import pytrec_eval
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "pytrec-eval-terrier==0.5.11"])
    import pytrec_eval

R = "golden-sets/rag"
with tempfile.TemporaryDirectory() as tmp:
    subprocess.run([args.bin, "index-test", "--corpus", f"{R}/corpus.jsonl", "--queries", f"{R}/queries.jsonl", "--qrels", f"{R}/qrels.txt",
                    "--baseline", f"{R}/baseline.yaml", "--candidate", f"{R}/candidate.yaml", "--gate", "configs/gates/rag.yaml",
                    "--report", f"{tmp}/report.json", "--runs-dir", f"{tmp}/runs", "--cache-path", f"{tmp}/cache.sqlite"],
                   check=True, capture_output=True)
    report = json.load(open(f"{tmp}/report.json"))
    qrels = {}
    for line in open(f"{R}/qrels.txt"):
        q, _, d, g = line.split()
        qrels.setdefault(q, {})[d] = int(g)
    failures = compared = 0
    for side in ("baseline", "candidate"):
        run = {}
        for line in open(f"{tmp}/runs/{side}.run"):
            q, _, d, _, s, _ = line.split()
            run.setdefault(q, {})[d] = float(s)
        means = report[side]["means"]
        measures = {m.rsplit("_", 1)[0] + "." + m.rsplit("_", 1)[1] if m[-1].isdigit() else m for m in means}
        result = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
        for name, value in means.items():
            if name.startswith("num_"):
                continue
            theirs = sum(r[name] for r in result.values()) / len(result)
            compared += 1
            if abs(theirs - value) > 1e-12:
                failures += 1
                print(f"{side} {name}: report {value!r}, pytrec_eval {theirs!r}")
    print(f"index-test crosscheck: {compared - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)
