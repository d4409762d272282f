#!/usr/bin/env bash
# The latency and cost gates of shadow-compare, end to end against simulated endpoints: a
# candidate 30% slower (fixed 130 ms vs 100 ms service time) must fail `max_p95_latency_ratio: 1.1`;
# a candidate at half the price must pass `max_cost_ratio: 1.0`. Timings on a shared host are
# noisy, which is why this is a script and not a unit test (the gate logic itself is tested on
# recorded pairs in ShadowCompareTests). Usage: scripts/shadow-gates.sh [BIN]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-${BIN:-.build/debug/evalengine}}
work=$(mktemp -d /tmp/evalengine-shadow-gates.XXXXXX)
trap 'rm -rf "$work"' EXIT
printf 'latency: {distribution: fixed, ms: 100}\nseed: 1\n' > "$work/base.yaml"
printf 'latency: {distribution: fixed, ms: 130}\nseed: 2\n' > "$work/slow.yaml"
printf 'latency: {distribution: fixed, ms: 100}\nseed: 3\n' > "$work/cheap.yaml"
cat > "$work/endpoints.yaml" <<YAML
endpoints:
  - {name: base, model: sim-small, simulated: {profile: $work/base.yaml}, max_in_flight: 64, pricing: {input_per_million: 0.30, output_per_million: 0.60}}
  - {name: slow, model: sim-small, simulated: {profile: $work/slow.yaml}, max_in_flight: 64, pricing: {input_per_million: 0.30, output_per_million: 0.60}}
  - {name: cheap, model: sim-small, simulated: {profile: $work/cheap.yaml}, max_in_flight: 64, pricing: {input_per_million: 0.15, output_per_million: 0.30}}
YAML
printf 'max_p95_latency_ratio: 1.1\n' > "$work/latency-gate.yaml"
printf 'max_cost_ratio: 1.0\n' > "$work/cost-gate.yaml"
common=(--cases golden-sets/qa/cases.jsonl --baseline-prompt golden-sets/qa/prompt.yaml --config "$work/endpoints.yaml" --quiet --no-cache --cache-path "$work/c.sqlite")
ok=1
set +e
"$BIN" shadow-compare "${common[@]}" --baseline base --candidate slow --gate "$work/latency-gate.yaml" > "$work/slow.txt" 2>&1
slow=$?
"$BIN" shadow-compare "${common[@]}" --baseline base --candidate cheap --gate "$work/cost-gate.yaml" > "$work/cheap.txt" 2>&1
cheap=$?
set -e
echo "30% slower candidate vs max_p95_latency_ratio 1.1 (exit $slow, expected 1 = fail):"
grep -E "latency p95|latency_p95_ratio|verdict" "$work/slow.txt" | sed 's/^/  /'
echo "half-price candidate vs max_cost_ratio 1.0 (exit $cheap, expected 0 = pass):"
grep -E "cost:|cost_ratio|verdict" "$work/cheap.txt" | sed 's/^/  /'
[ "$slow" -eq 1 ] || { echo "shadow-gates: the slower candidate did not fail"; ok=0; }
[ "$cheap" -eq 0 ] || { echo "shadow-gates: the cheaper candidate did not pass"; cat "$work/cheap.txt"; ok=0; }
[ $ok -eq 1 ] && echo "shadow-gates: ok"
