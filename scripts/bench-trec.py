#!/usr/bin/env python3
"""Retrieval-metric speed: evalengine vs pytrec_eval-terrier 0.5.11 in one run, on the anchor's input
(10,000 queries x 100 retrieved docs; 1-9 relevant docs with grades 1-3 plus 10 judged non-relevant;
measures ndcg_cut_10, map, recip_rank, recall_100, P_10). Evaluation only: parsing is excluded on both sides.
    scripts/bench-trec.py [--bin .build/release/evalengine]
"""
import argparse, os, random, re, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--bin", default=".build/release/evalengine")
args = ap.parse_args()
import pytrec_eval

rng = random.Random(1)
qrels, run = {}, {}
for q in range(10000):
    qid = f"q{q}"
    rel = {f"d{rng.randint(0, 999)}": rng.randint(1, 3) for _ in range(rng.randint(1, 9))}
    for _ in range(10):
        rel.setdefault(f"d{rng.randint(0, 999)}", 0)
    qrels[qid] = rel
    run[qid] = {f"d{d}": rng.random() for d in rng.sample(range(1000), 100)}
measures = {"ndcg_cut_10", "map", "recip_rank", "recall_100", "P_10"}
best_py = min(
    (lambda e: (lambda t0: (e.evaluate(run), time.perf_counter() - t0)[1])(time.perf_counter()))(pytrec_eval.RelevanceEvaluator(qrels, measures))
    for _ in range(3))
with tempfile.TemporaryDirectory() as tmp:
    qp, rp = os.path.join(tmp, "qrels"), os.path.join(tmp, "run")
    with open(qp, "w") as f:
        f.writelines(f"{q} 0 {d} {g}\n" for q, docs in qrels.items() for d, g in docs.items())
    with open(rp, "w") as f:
        f.writelines(f"{q} Q0 {d} 0 {s!r} t\n" for q, docs in run.items() for d, s in docs.items())
    best_ours = None
    for _ in range(3):
        err = subprocess.run([args.bin, "trec-eval", "--time", "-m", "ndcg_cut.10", "-m", "map", "-m", "recip_rank", "-m", "recall.100", "-m", "P.10", qp, rp],
                             capture_output=True, text=True, check=True).stderr
        s = float(re.search(r"evaluation: ([0-9.]+) s", err).group(1))
        best_ours = s if best_ours is None else min(best_ours, s)
print(f"pytrec_eval evaluate: {best_py:.3f} s ({1e6 / best_py / 1e6:.2f} M docs/s)")
print(f"evalengine evaluate:  {best_ours:.3f} s ({1e6 / best_ours / 1e6:.2f} M docs/s)   ratio {best_py / best_ours:.2f}x")
