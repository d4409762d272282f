#!/usr/bin/env bash
# Calibration of the shadow-compare verdict, end to end: for each of SEEDS seeds, a fresh golden
# set of arithmetic questions goes through `evalengine shadow-compare` (real HTTP, two in-process
# simulated endpoints: baseline accuracy 0.90, candidate on another deployment, sampling at
# temperature 0.3 so the two disagree near the accuracy like real deployments do) in three
# scenarios, with the default gate (2-point non-inferiority margin):
#   identical  candidate accuracy 0.90, 1,000 cases   -> must pass in >= 95% of seeds
#   worse      candidate accuracy 0.85, 1,000 cases   -> must fail in >= 95% of seeds
#   small      candidate accuracy 0.85, 30 cases      -> must be inconclusive, never pass
# Usage: scripts/calibrate-shadow.sh [SEEDS]   (BIN=.build/release/evalengine for speed)
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${1:-40}
BIN=${BIN:-.build/debug/evalengine}
[ -x "$BIN" ] || { echo "calibrate-shadow: build first (swift build): $BIN" >&2; exit 1; }
work=$(mktemp -d /tmp/evalengine-calibrate.XXXXXX)
trap 'rm -rf "$work"' EXIT

cat > "$work/base.yaml" <<'EOF'
accuracy: 0.90
seed: 1
EOF
cat > "$work/cand.yaml" <<'EOF'
accuracy: 0.90
model_accuracy: {sim-worse: 0.85}
seed: 2
EOF
cat > "$work/endpoints.yaml" <<EOF
endpoints:
  - {name: base, model: sim-small, simulated: {profile: $work/base.yaml}, max_in_flight: 64}
  - {name: same, model: sim-small, simulated: {profile: $work/cand.yaml}, max_in_flight: 64}
  - {name: worse, model: sim-worse, simulated: {profile: $work/cand.yaml}, max_in_flight: 64}
EOF
cat > "$work/prompt.yaml" <<'EOF'
messages:
  - {role: user, content: "{{question}}"}
params: {temperature: 0.3, max_tokens: 16}
EOF

declare -A tally
for seed in $(seq 1 "$SEEDS"); do
  python3 - "$seed" "$work" <<'EOF'
import json, random, sys
seed, work = int(sys.argv[1]), sys.argv[2]
rng = random.Random(seed)
for name, n in (("big", 1000), ("small", 30)):
    with open(f"{work}/{name}.jsonl", "w") as f:
        for i in range(n):
            a, b = rng.randrange(10**6), rng.randrange(10**6)
            f.write(json.dumps({"id": f"s{seed}-{i}", "vars": {"question": f"What is {a} + {b}?"}, "expected": str(a + b)}) + "\n")
EOF
  for scenario in identical:same:big worse:worse:big small:worse:small; do
    IFS=: read -r label candidate cases <<<"$scenario"
    set +e
    "$BIN" shadow-compare --cases "$work/$cases.jsonl" --baseline-prompt "$work/prompt.yaml" --baseline base --candidate "$candidate" \
      --config "$work/endpoints.yaml" --seed "$seed" --quiet --no-cache --cache-path "$work/c.sqlite" > "$work/out.txt" 2>&1
    code=$?
    set -e
    case $code in 0) v=pass ;; 1) v=fail ;; 2) v=inconclusive ;; *) echo "calibrate-shadow: seed $seed $label: exit $code"; cat "$work/out.txt"; exit 1 ;; esac
    tally[$label:$v]=$(( ${tally[$label:$v]:-0} + 1 ))
  done
  printf '.' >&2
done
echo >&2
printf '%-10s %6s %6s %13s   %s\n' scenario pass fail inconclusive "(of $SEEDS seeds)"
for label in identical worse small; do
  printf '%-10s %6d %6d %13d\n' "$label" "${tally[$label:pass]:-0}" "${tally[$label:fail]:-0}" "${tally[$label:inconclusive]:-0}"
done
need=$(( (SEEDS * 95 + 99) / 100 ))
ok=1
[ "${tally[identical:pass]:-0}" -ge "$need" ] || { echo "identical candidate passed in fewer than $need seeds"; ok=0; }
[ "${tally[worse:fail]:-0}" -ge "$need" ] || { echo "5-points-worse candidate failed in fewer than $need seeds"; ok=0; }
[ "${tally[small:pass]:-0}" -eq 0 ] || { echo "a 30-case comparison of a worse candidate passed"; ok=0; }
[ $ok -eq 1 ] && echo "calibrate-shadow: calibrated (pass >= $need/$SEEDS, fail >= $need/$SEEDS, 30 cases never pass)" || exit 1
