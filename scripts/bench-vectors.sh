#!/usr/bin/env bash
# Vector engine against OpenBLAS C, numpy and FAISS IndexFlatIP on the same shapes, in one run.
#   scripts/bench-vectors.sh [QUERIES] [CORPUS] [DIM] [K]    (defaults 1000 100000 384 10)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/release/evalengine}
Q=${1:-1000}; N=${2:-100000}; D=${3:-384}; K=${4:-10}
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
cc -O2 Benchmarks/vectors/sgemm_raw.c $(pkg-config --cflags --libs openblas) -o "$WORK/sgemm_raw"
"$WORK/sgemm_raw" "$Q" "$D" "$N"
"$BIN" vector-bench --queries "$Q" --corpus "$N" --dimensions "$D" --k "$K"
python3 - "$Q" "$N" "$D" "$K" <<'PY'
import sys, time
import numpy as np
q, n, d, k = map(int, sys.argv[1:])
rng = np.random.default_rng(42)
x = rng.uniform(-1, 1, (n, d)).astype(np.float32); x /= np.linalg.norm(x, axis=1, keepdims=True)
qs = rng.uniform(-1, 1, (q, d)).astype(np.float32); qs /= np.linalg.norm(qs, axis=1, keepdims=True)
best = min((lambda t: (qs @ x.T, time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(3))
print(f"numpy: matmul {best:.3f} s, {2 * q * n * d / best / 1e9:.1f} GFLOP/s")
try:
    import faiss
    index = faiss.IndexFlatIP(d); index.add(x)
    best = min((lambda t: (index.search(qs, k), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(3))
    print(f"FAISS {faiss.__version__} IndexFlatIP: top-{k} {best:.3f} s, {q / best:.0f} queries/s")
except ImportError:
    print("FAISS: not installed (pip install faiss-cpu)")
PY
