#!/usr/bin/env bash
# index-test on 5,000 documents and 500 queries (the RAG sample, widened), built-in simulated
# embeddings: a cold run fills the embedding cache, then the warm run is timed (process included).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/release/evalengine}
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
python3 - "$WORK" <<'PY'
import json, sys
out = sys.argv[1]
docs = [json.loads(l) for l in open("golden-sets/rag/corpus.jsonl")]
queries = [json.loads(l) for l in open("golden-sets/rag/queries.jsonl")]
qrels = [l.split() for l in open("golden-sets/rag/qrels.txt")]
with open(f"{out}/corpus.jsonl", "w") as f:
    for i in range(5000):
        d = docs[i % len(docs)]
        f.write(json.dumps({"id": f"{d['id']}#{i // len(docs)}", "text": d["text"] + ("" if i < len(docs) else f"\n(revision {i // len(docs)})")}) + "\n")
with open(f"{out}/queries.jsonl", "w") as f, open(f"{out}/qrels.txt", "w") as g:
    for i in range(500):
        q = queries[i % len(queries)]
        qid = f"{q['id']}#{i // len(queries)}"
        f.write(json.dumps({"id": qid, "text": q["text"]}) + "\n")
        for (qq, _, d, grade) in qrels:
            if qq == q["id"]:
                g.write(f"{qid} 0 {d}#0 {grade}\n")
PY
args=(index-test --corpus "$WORK/corpus.jsonl" --queries "$WORK/queries.jsonl" --qrels "$WORK/qrels.txt"
  --baseline golden-sets/rag/baseline.yaml --candidate golden-sets/rag/candidate.yaml --gate configs/gates/rag.yaml
  --cache-path "$WORK/cache.sqlite")
/usr/bin/time -f "cold run: wall %e s, peak RSS %M KB" "$BIN" "${args[@]}" | grep -E "index-test:|verdict" || true
/usr/bin/time -f "warm run (embeddings cached): wall %e s, peak RSS %M KB" "$BIN" "${args[@]}" | grep -E "index-test:|verdict" || true
