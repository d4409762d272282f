#!/usr/bin/env bash
# Loopback load on the service's read paths with wrk (Debian `wrk`): GET /v1/jobs/{id} (a
# completed eval's envelope, read from SQLite) and GET /metrics, 10 s each, 2 threads, 64
# connections. Usage: scripts/bench-service.sh [BIN]   (default .build/release/evalengine)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-.build/release/evalengine}
command -v wrk >/dev/null || { echo "bench-service: wrk not found (apt-get install wrk)" >&2; exit 1; }
WORK=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
printf 'endpoints: %s/configs/endpoints.yaml\ndata_dir: %s\nstore: %s/s.sqlite\nreports_dir: %s/reports\n' "$PWD" "$PWD" "$WORK" "$WORK" > "$WORK/service.yaml"
"$BIN" serve --config "$WORK/service.yaml" --port 0 --log-level error > "$WORK/out" 2> "$WORK/err" &
for _ in $(seq 100); do grep -q "serving on" "$WORK/out" 2>/dev/null && break; sleep 0.1; done
BASE=$(sed -n 's/.*serving on //p' "$WORK/out")
JOB=$(curl -s -X POST "$BASE/v1/eval?wait=60" -d '{"golden_set":{"ref":"golden-sets/qa/cases.jsonl"},"prompt":{"ref":"golden-sets/qa/prompt.yaml"},"endpoint":"sim"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
echo "server $BASE, job $JOB ($(nproc) cores)"
for path in "/v1/jobs/$JOB" "/metrics"; do
  echo "== GET $path"
  wrk -t2 -c64 -d10s --latency "$BASE$path" | grep -E "Requests/sec|Latency |99%|50%|Non-2xx|Socket errors"
done
