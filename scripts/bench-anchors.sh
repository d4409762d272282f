#!/usr/bin/env bash
# Every comparison with a peer from ../shared/reference/anchors.md, each measured against the peer
# in the same run (absolute figures on these shared hosts move 2-3x between runs; ratios do not):
#   OpenBLAS C and numpy sgemm, FAISS IndexFlatIP top-10   scripts/bench-vectors.sh
#   pytrec_eval                                            scripts/bench-trec.py
#   raw SQLite C (lookups and batched inserts)             scripts/bench-cache.sh
#   a plain Python asyncio runner and inspect_ai, same simulated endpoint   scripts/bench-eval.sh vs-python
# Needs the release build (swift build -c release); about 8 minutes (inspect_ai runs ~30-60 cases/s).
# inspect_ai (PyPI inspect-ai 0.3.285 + openai) goes into a venv of its own, made once:
# BENCH_VENV (default ~/.cache/evalengine-bench-venv). docs/PERFORMANCE.md lists the results.
set -euo pipefail
cd "$(dirname "$0")/.."
export BIN=${BIN:-.build/release/evalengine}
[ -x "$BIN" ] || { echo "build first: swift build -c release (or set BIN)"; exit 64; }
python3 -c "import faiss" 2>/dev/null || pip install -q --break-system-packages faiss-cpu 2>/dev/null || pip install -q faiss-cpu || true
section() { printf '\n== %s ==\n' "$1"; }
section "vectors: 1,000 x 384 x 100,000, k = 10 (OpenBLAS C, evalengine, numpy, FAISS)"
bash scripts/bench-vectors.sh
section "retrieval metrics: 10,000 queries x 100 docs (pytrec_eval vs evalengine)"
python3 scripts/bench-trec.py --bin "$BIN"
section "cache: 200,000 rows, 200,000 lookups (raw SQLite C vs the Store)"
bash scripts/bench-cache.sh 200000 200000
VENV=${BENCH_VENV:-$HOME/.cache/evalengine-bench-venv}
if ! "$VENV/bin/python" -c "import inspect_ai, openai" 2>/dev/null; then
  { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q "inspect-ai==0.3.285" openai; } || echo "inspect_ai could not be installed: its rows are skipped"
fi
"$VENV/bin/python" -c "import inspect_ai" 2>/dev/null && export INSPECT_PYTHON="$VENV/bin/python"
section "eval runner: 20,000 cases (plain Python asyncio runner, inspect_ai on 2,000, evalengine)"
bash scripts/bench-eval.sh vs-python
