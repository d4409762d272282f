#!/usr/bin/env bash
# One tool-calling case of golden-sets/tools end to end against a real third-party
# OpenAI-compatible server: `transformers serve` (PyPI transformers 5.18, torch CPU), serving a
# tiny random-weight Llama built locally by scripts/tiny-model.py (no model hub here). The model
# cannot call tools, so the tools are ignored and the answer is plain text: the case must FAIL
# on its tool assertions (not error on parsing), streamed and not, with usage and TTFT read.
#   scripts/check-transformers-serve.sh        (needs: python3 -m venv, pip from PyPI; ~1 GB)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/release/evalengine}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
VENV=${VENV:-$WORK/venv}
[ -x "$VENV/bin/transformers" ] || { python3 -m venv "$VENV"; "$VENV/bin/pip" install -q "transformers[serving]==5.18.0" torch requests rich; }
(cd "$WORK" && "$VENV/bin/python" "$OLDPWD/scripts/tiny-model.py")
HF_HUB_OFFLINE=1 "$VENV/bin/transformers" serve --host 127.0.0.1 --port 18111 "$WORK/model" > "$WORK/serve.log" 2>&1 &
for _ in $(seq 1 120); do curl -s -o /dev/null http://127.0.0.1:18111/v1/models && break; sleep 0.5; done
cat > "$WORK/e.yaml" <<YAML
endpoints:
  - {name: tf, base_url: "http://127.0.0.1:18111", model: $WORK/model, timeouts: {request_seconds: 120}, retry: {max_attempts: 1}}
  - {name: tf-stream, base_url: "http://127.0.0.1:18111", model: $WORK/model, stream: true, timeouts: {request_seconds: 120}, retry: {max_attempts: 1}}
YAML
head -1 golden-sets/tools/cases.jsonl > "$WORK/one.jsonl"
sed "s/max_tokens: 128/max_tokens: 12/; s#file:tools.json#file:$PWD/golden-sets/tools/tools.json#" golden-sets/tools/prompt.yaml > "$WORK/prompt.yaml"
for ep in tf tf-stream; do
  "$BIN" eval --golden "$WORK/one.jsonl" --prompt "$WORK/prompt.yaml" --config "$WORK/e.yaml" --endpoint $ep \
    --report "$WORK/r.json" --cache-mode off --quiet > /dev/null || true
  python3 - "$WORK/r.json" $ep <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["cases"][0]
ok = c["status"] == "failed" and c["tokens"]["completion"] > 0 and all(not a["pass"] for a in c["assertions"])
if sys.argv[2] == "tf-stream":
    ok = ok and c.get("stream", {}).get("ttft_ms", 0) > 0
print(f"{sys.argv[2]}: {c['status']}, output {c.get('output')!r}, tokens {c['tokens']}, stream {c.get('stream')}; "
      + "; ".join(f"{a['type']}: {a['reason']}" for a in c["assertions"]) + (" -> ok" if ok else " -> FAILED"))
sys.exit(0 if ok else 1)
PY
done
