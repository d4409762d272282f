#!/usr/bin/env python3
"""Randomized cross-check of `evalengine trec-eval` against pytrec_eval-terrier 0.5.11.

Generates QUERIES random queries (seeded) with score ties, binary32 near-ties, graded and negative
judgments, unjudged retrieved docs, queries without relevant docs, and non-ASCII ids; evaluates
them with pytrec_eval and with the CLI (`-q --digits 17`), and demands identical values per query
(|diff| <= 1e-12, in practice 0) at relevance levels 1 and 2.

    scripts/crosscheck-trec.py [--queries 5000] [--seed 7] [--bin .build/debug/evalengine]
"""
import argparse, math, os, random, subprocess, sys, tempfile

MEASURES = ["P.1,3,5,10,20,100", "recall.1,3,5,10,20,100", "success.1,5,10", "map", "map_cut.5,10,100",
            "recip_rank", "ndcg", "ndcg_cut.1,3,5,10,20,100", "Rprec", "bpref", "num_ret", "num_rel", "num_rel_ret"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--bin", default=".build/debug/evalengine")
    args = ap.parse_args()
    try:
        import pytrec_eval
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "pytrec-eval-terrier==0.5.11"])
        import pytrec_eval

    rng = random.Random(args.seed)
    qrels, run = {}, {}
    for q in range(args.queries):
        qid = f"q{q}" if q % 7 else f"é-{q}"
        pool = [f"d{j}" for j in range(rng.randint(1, 60))]
        judged = rng.sample(pool, rng.randint(1, len(pool)))
        qrels[qid] = {d: rng.choice([-1, 0, 0, 0, 1, 1, 2, 3]) for d in judged}
        if q % 11 == 0:
            qrels[qid] = {d: rng.choice([-1, 0]) for d in judged}  # no relevant docs
        retrieved = rng.sample(pool + [f"x{j}" for j in range(20)], rng.randint(1, min(len(pool) + 20, 120)))  # TREC files cannot hold an empty list
        scores = {}
        for d in retrieved:
            kind = rng.random()
            if kind < 0.3:
                scores[d] = float(rng.randint(0, 5))  # exact ties
            elif kind < 0.4:
                scores[d] = 0.1 + rng.randint(0, 3) * 1e-10  # equal in binary32
            else:
                scores[d] = rng.random() * 10
        run[qid] = scores
    for q in range(args.queries, args.queries + 50):  # run-only queries are ignored
        run[f"extra{q}"] = {"d0": 1.0}

    with tempfile.TemporaryDirectory() as tmp:
        qpath, rpath = os.path.join(tmp, "qrels"), os.path.join(tmp, "run")
        with open(qpath, "w") as f:
            for qid, docs in qrels.items():
                for d, g in docs.items():
                    f.write(f"{qid} 0 {d} {g}\n")
        with open(rpath, "w") as f:
            for qid, docs in run.items():
                for i, (d, s) in enumerate(docs.items()):
                    f.write(f"{qid} Q0 {d} {i + 1} {s!r} tag\n")
        failures = 0
        compared = 0
        for level in (1, 2):
            names = set()
            for m in MEASURES:
                base, _, cuts = m.partition(".")
                names.update([f"{base}_{c}" for c in cuts.split(",")] if cuts else [base])
            evaluator = pytrec_eval.RelevanceEvaluator(qrels, {m.split(".")[0] if "." not in m else m for m in MEASURES}, relevance_level=level)
            expected = evaluator.evaluate(run)
            cmd = [args.bin, "trec-eval", "-q", "--digits", "17", "-l", str(level)] + sum([["-m", m] for m in MEASURES], []) + [qpath, rpath]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            got = {}
            for line in out.splitlines():
                name, qid, value = line.split("\t")
                got.setdefault(qid.strip(), {})[name.strip()] = float(value)
            if set(expected) != set(got) - {"all"}:
                print(f"level {level}: evaluated queries differ: {len(expected)} vs {len(got) - 1}")
                failures += 1
            for qid, values in expected.items():
                for name, want in values.items():
                    have = got.get(qid, {}).get(name)
                    compared += 1
                    if have is None or abs(have - want) > 1e-12:
                        failures += 1
                        if failures <= 10:
                            print(f"level {level} {qid} {name}: pytrec_eval {want!r}, evalengine {have!r}")
        print(f"crosscheck: {args.queries} queries, {compared} values compared at levels 1 and 2, {failures} differences")
        print(f"crosscheck: {compared - failures} passed, {failures} failed")
        sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
