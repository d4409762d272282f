#!/usr/bin/env bash
# Reproduces the eval-stage figures in docs/PERFORMANCE.md. Each scenario starts the simulated
# endpoint in its own process on loopback, runs the CLI against it, and prints the figures.
#   scripts/bench-eval.sh rate-limit   # 2,000 cases, endpoint limited to 6,000 req/min: ~20 s, zero 429s
#   scripts/bench-eval.sh throughput   # 20,000 cases, no latency, no limit: cases/s
#   scripts/bench-eval.sh faults       # 2,000 cases, 10% 429 (Retry-After: 1) + 5% 500: all complete
#   scripts/bench-eval.sh memory       # 100,000 cases: peak RSS
#   scripts/bench-eval.sh warm         # 10,000 cases twice: the warm re-run's wall time, zero endpoint calls
#   scripts/bench-eval.sh judged       # 10,000 judged cases (3 judge calls each where judged) vs the same cases unjudged: cases/s, CPU/case
#   scripts/bench-eval.sh stream       # streamed answers at TTFT 200 ms / 20 ms per token: reported TTFT and inter-token gaps, capacity's TTFT columns
#   scripts/bench-eval.sh scorers      # 10,000 cases scored by a Python worker pool vs unscored vs the scorer alone: wall, CPU
#   scripts/bench-eval.sh vs-python    # 20,000 equals cases: evalengine vs a plain Python asyncio runner, same endpoint, 3 rounds (BIN_BEFORE=old build adds it)
# BIN defaults to the release build (swift build -c release).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/release/evalengine}
[ -x "$BIN" ] || { echo "build first: swift build -c release (or set BIN)"; exit 64; }
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

start_sim() { # port profile
  "$BIN" simulate --port "$1" --profile "$2" > "$WORK/sim-$1.log" 2>&1 &
  for _ in $(seq 1 100); do grep -q listening "$WORK/sim-$1.log" 2>/dev/null && return; sleep 0.05; done
  echo "simulator did not start"; cat "$WORK/sim-$1.log"; exit 70
}
golden() { python3 golden-sets/qa/generate.py --cases "$1" > "$WORK/g$1.jsonl"; echo "$WORK/g$1.jsonl"; }
run_eval() { # endpoint golden extra...
  local ep=$1 g=$2; shift 2
  /usr/bin/time -f "wall %e s  peak RSS %M KB" "$BIN" eval --golden "$g" --prompt golden-sets/qa/prompt.yaml \
    --endpoint "$ep" --gate configs/gates/bench.yaml --quiet --report "$WORK/report.json" \
    --cache-path "$WORK/cache-$RANDOM.sqlite" "$@" || echo "exit code $?"
}
# Distinct arithmetic questions with one `equals` assertion: the work both runners in vs-python can do.
arith_golden() {
  python3 -c "
import json
for i in range($1):
    a, b = 100 + i % 900, 7 + i // 900
    print(json.dumps({'id': f'a{i}', 'vars': {'question': f'What is {a} * {b}?'}, 'expected': str(a * b),
                      'assert': [{'type': 'equals', 'metric': 'accuracy'}]}))" > "$WORK/arith$1.jsonl"
  echo "$WORK/arith$1.jsonl"
}
now() { date +%s.%N; }
stats() { curl -s "http://127.0.0.1:$1/sim/stats"; echo; }

case "${1:-}" in
  rate-limit)
    start_sim 18090 profiles/sim-limited.yaml
    g=$(golden 2000)
    run_eval bench-limited "$g"
    echo "simulator: $(stats 18090)"
    ;;
  throughput)
    start_sim 18091 profiles/sim-fast.yaml
    g=$(golden 20000)
    run_eval bench-fast "$g" --concurrency 512
    echo "simulator: $(stats 18091)"
    ;;
  faults)
    start_sim 18092 profiles/sim-flaky.yaml
    g=$(golden 2000)
    run_eval bench-flaky "$g"
    echo "simulator: $(stats 18092)"
    ;;
  memory)
    start_sim 18091 profiles/sim-fast.yaml
    g=$(golden 100000)
    run_eval bench-fast "$g" --concurrency 512 --no-outputs
    ls -la "$WORK/report.json"
    ;;
  warm)
    # Cold run fills the cache; the warm re-run must make zero endpoint calls.
    start_sim 18091 profiles/sim-fast.yaml
    g=$(golden 10000)
    "$BIN" eval --golden "$g" --prompt golden-sets/qa/prompt.yaml --endpoint bench-fast --gate configs/gates/bench.yaml \
      --quiet --cache-path "$WORK/cache.sqlite" > /dev/null || true
    echo "cold run: simulator $(stats 18091)"
    curl -s -X POST "http://127.0.0.1:18091/sim/reset" > /dev/null
    /usr/bin/time -f "warm re-run wall %e s  peak RSS %M KB" "$BIN" eval --golden "$g" --prompt golden-sets/qa/prompt.yaml \
      --endpoint bench-fast --gate configs/gates/bench.yaml --quiet --cache-path "$WORK/cache.sqlite" | grep -E "eval:|run " || true
    echo "warm run: simulator $(stats 18091)"
    ;;
  vs-python)
    # Same simulated endpoint, same cases, alternating, one run: wall-clock cases/s and CPU seconds
    # per case (user + sys of the runner's process, what moves less than wall time on a noisy host),
    # and context switches per case (perf stat, where perf works). inspect_ai (INSPECT_PYTHON, a venv
    # with inspect-ai; scripts/bench-anchors.sh makes one) runs the first 2,000 cases: ~30 cases/s.
    # BIN_BEFORE=another/build/evalengine adds that build to every round (e.g. the code before a change).
    start_sim 18091 profiles/sim-fast.yaml
    g=$(arith_golden 20000)
    head -2000 "$g" > "$WORK/arith2000.jsonl"
    perf_ok=0; perf stat -x, -e context-switches -o /dev/null true 2>/dev/null && perf_ok=1
    measure() { # name cases command... -> $WORK/name.{time,cs}
      local name=$1 n=$2; shift 2
      local t0 t1
      t0=$(now)
      if [ $perf_ok = 1 ]; then
        perf stat -x, -e context-switches -o "$WORK/$name.perf" -- /usr/bin/time -o "$WORK/$name.time" -f "%U %S" "$@" > "$WORK/$name.out" 2>&1 || true
      else
        /usr/bin/time -o "$WORK/$name.time" -f "%U %S" "$@" > "$WORK/$name.out" 2>&1 || true
      fi
      t1=$(now)
      python3 - "$WORK/$name" "$n" "$t0" "$t1" <<'PY'
import sys, os
base, n, t0, t1 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
u, s = open(base + ".time").read().split()[-2:]
cs = None
if os.path.exists(base + ".perf"):
    for line in open(base + ".perf"):
        f = line.strip().split(",")
        if len(f) > 2 and f[2] == "context-switches" and f[0].isdigit():
            cs = int(f[0]) / n
open(base + ".res", "w").write(f"{(float(u) + float(s)) / n * 1e6:.1f} {n / (t1 - t0):.1f} {'' if cs is None else f'{cs:.3f}'}\n")
PY
    }
    for round in 1 2 3; do
      measure ee 20000 "$BIN" eval --golden "$g" --prompt golden-sets/qa/prompt.yaml --endpoint bench-fast --gate configs/gates/bench.yaml \
        --quiet --concurrency 512 --cache-path "$WORK/vs-$round.sqlite"
      measure py 20000 python3 scripts/python-asyncio-runner.py --golden "$g" --port 18091 --concurrency 128
      line="round $round:"
      read -r ee_cpu ee_rate ee_cs < "$WORK/ee.res"
      read -r py_cpu py_rate py_cs < "$WORK/py.res"
      python3 -c "
ee_cpu, py_cpu, ee_rate, py_rate = $ee_cpu, $py_cpu, $ee_rate, $py_rate
cs = lambda v: f', {v} context switches/case' if v else ''
print(f'round $round: evalengine {ee_cpu:.0f} us CPU/case, {ee_rate:,.0f} cases/s{cs(\"$ee_cs\")} (fresh cache file, every case persisted)')
print(f'         python asyncio {py_cpu:.0f} us CPU/case, {py_rate:,.0f} cases/s{cs(\"$py_cs\")}')
print(f'         evalengine / python: {ee_cpu / py_cpu:.2f}x the CPU per case, {ee_rate / py_rate:.2f}x the cases/s')"
      if [ -n "${INSPECT_PYTHON:-}" ] && [ -x "$INSPECT_PYTHON" ]; then
        measure ia 2000 "$INSPECT_PYTHON" scripts/inspect-ai-runner.py --golden "$WORK/arith2000.jsonl" --port 18091 --concurrency 128
        read -r ia_cpu ia_rate ia_cs < "$WORK/ia.res"
        python3 -c "
ia_cpu, ee_cpu, ia_rate = $ia_cpu, $ee_cpu, $ia_rate
print(f'         inspect_ai (2,000 cases) {ia_cpu:,.0f} us CPU/case, {ia_rate:,.0f} cases/s: evalengine uses {ee_cpu / ia_cpu:.4f}x its CPU per case ({ia_cpu / ee_cpu:,.0f}x less)')"
        grep -E "^inspect_ai:" "$WORK/ia.out" | sed 's/^/         /' || tail -3 "$WORK/ia.out"
      fi
      if [ -n "${BIN_BEFORE:-}" ]; then
        measure old 20000 "$BIN_BEFORE" eval --golden "$g" --prompt golden-sets/qa/prompt.yaml --endpoint bench-fast \
          --gate configs/gates/bench.yaml --quiet --concurrency 512 --cache-path "$WORK/old-$round.sqlite"
        read -r old_cpu old_rate old_cs < "$WORK/old.res"
        echo "         BIN_BEFORE: $old_cpu us CPU/case, $old_rate cases/s${old_cs:+, $old_cs context switches/case}: this build uses $(python3 -c "print(f'{$ee_cpu / $old_cpu:.2f}')")x its CPU per case"
      fi
      grep -E "passed" "$WORK/py.out" | sed 's/^/         /'
    done
    echo "simulator: $(stats 18091)"
    ;;
  judged)
    # 10,000 judged cases (golden-sets/judged's generator: llm-rubric, g-eval, factuality, closedqa, context-*) against a target
    # and a judge simulator in their own processes, no latency, each endpoint under its own limiter;
    # beside the same cases with a trivial assertion instead (no judge): cases/s and CPU per case.
    start_sim 18091 profiles/sim-fast.yaml
    printf 'accuracy: 0.96\njudge_accuracy: 0.95\njudge_format_noise: 0.2\n' > "$WORK/judge.yaml"
    start_sim 18096 "$WORK/judge.yaml"
    python3 golden-sets/judged/generate.py --cases 10000 > "$WORK/judged.jsonl"
    python3 -c "
import json, sys
for line in open('$WORK/judged.jsonl'):
    c = json.loads(line); c['assert'] = [{'type': 'latency', 'threshold': 60000}]; print(json.dumps(c))" > "$WORK/plain.jsonl"
    for what in plain judged; do
      extra=(); [ "$what" = judged ] && extra=(--judge-endpoint bench-judge)
      t0=$(now)
      /usr/bin/time -o "$WORK/$what.time" -f "%U %S" "$BIN" eval --golden "$WORK/$what.jsonl" --prompt golden-sets/judged/prompt.yaml --endpoint bench-fast \
        "${extra[@]}" --gate configs/gates/bench.yaml --quiet --concurrency 512 --cache-path "$WORK/$what.sqlite" > "$WORK/$what.out" || true
      t1=$(now)
      python3 -c "
u, s = open('$WORK/$what.time').read().split()[-2:]
print(f'$what: 10,000 cases in {$t1 - $t0:.2f} s = {10000 / ($t1 - $t0):,.0f} cases/s, {(float(u) + float(s)) / 10000 * 1e3:.3f} ms CPU/case')"
      grep -E "judge:|passed" "$WORK/$what.out" | sed 's/^/    /'
    done
    echo "target simulator: $(stats 18091)"
    echo "judge simulator: $(stats 18096)"
    ;;
  stream)
    # Streamed answers from a simulator with time to first token fixed at 200 ms and 20 ms per
    # token, at three concurrencies: what we report beside what was configured (the difference
    # is our measurement's overhead plus the host's scheduling), and the capacity table's TTFT columns.
    printf 'accuracy: 0.96\nstream: {ttft: {distribution: fixed, ms: 200}, per_token: {distribution: fixed, ms: 20}}\n' > "$WORK/stream.yaml"
    start_sim 18097 "$WORK/stream.yaml"
    printf 'endpoints:\n  - {name: st, base_url: "http://127.0.0.1:18097", model: sim-small, stream: true, max_in_flight: 512}\n' > "$WORK/stream-endpoints.yaml"
    python3 -c "
import json
for i in range(400):
    print(json.dumps({'id': f's{i}', 'vars': {'question': f'Summarize: The river {i} project shipped its canyon release on time. Later the team met.'}, 'assert': [{'type': 'ttft', 'metric': 'ttft_ms'}]}))" > "$WORK/stream.jsonl"
    for c in 8 64 256; do
      "$BIN" eval --golden "$WORK/stream.jsonl" --prompt golden-sets/qa/prompt.yaml --config "$WORK/stream-endpoints.yaml" --endpoint st \
        --quiet --concurrency $c --cache-mode off --report "$WORK/stream.json" --cache-path "$WORK/stream-$c.sqlite" > /dev/null || true
      python3 -c "
import json
s = json.load(open('$WORK/stream.json'))['summary']['stream']
t = s['ttft_ms']
print(f'concurrency $c: ttft p50 {t[\"p50\"]:.1f} ms (configured 200, +{t[\"p50\"] - 200:.1f}), p95 {t[\"p95\"]:.1f}; inter-token p50 {s[\"inter_token_p50_ms\"]:.2f} ms (configured 20, +{s[\"inter_token_p50_ms\"] - 20:.2f}), p95 {s[\"inter_token_p95_ms\"]:.2f}; {s[\"tokens_per_second\"]:.1f} tokens/s')"
    done
    printf 'name: stream\nkind: steps\nsteps: [{rate: 20, seconds: 3}, {rate: 100, seconds: 3}]\nslo_p99_ms: 1000\ntimeout_seconds: 10\n' > "$WORK/stream-load.yaml"
    "$BIN" capacity --profile "$WORK/stream-load.yaml" --target st --config "$WORK/stream-endpoints.yaml" | tail -4
    ;;
  scorers)
    # 10,000 cases scored by golden-sets/scorers/grade.py as a pool of persistent Python workers,
    # beside the same cases with a trivial assertion (no scorer), and beside grade.py alone over
    # the same 10,000 requests (what the scoring itself costs): wall and CPU (workers included,
    # as time(1) counts reaped children).
    start_sim 18091 profiles/sim-fast.yaml
    python3 -c "
import json
for i in range(10000):
    a, b = 100 + i % 900, 7 + i // 900
    print(json.dumps({'id': f'a{i}', 'vars': {'question': f'What is {a} * {b}?'}, 'expected': str(a * b),
                      'assert': [{'type': 'script', 'command': ['python3', '$PWD/golden-sets/scorers/grade.py'], 'metric': 'overlap'}]}))" > "$WORK/scored.jsonl"
    python3 -c "
import json
for line in open('$WORK/scored.jsonl'):
    c = json.loads(line); c['assert'] = [{'type': 'equals', 'metric': 'accuracy'}]; print(json.dumps(c))" > "$WORK/plain.jsonl"
    for what in plain scored; do
      t0=$(now)
      /usr/bin/time -o "$WORK/$what.time" -f "%U %S" "$BIN" eval --golden "$WORK/$what.jsonl" --prompt golden-sets/qa/prompt.yaml --endpoint bench-fast \
        --gate configs/gates/bench.yaml --quiet --concurrency 256 --cache-path "$WORK/$what.sqlite" > "$WORK/$what.out" || true
      t1=$(now)
      python3 -c "
u, s = open('$WORK/$what.time').read().split()[-2:]
print(f'evalengine, $what: 10,000 cases in {$t1 - $t0:.2f} s = {10000 / ($t1 - $t0):,.0f} cases/s, CPU {float(u) + float(s):.2f} s ({(float(u) + float(s)) / 10000 * 1e3:.3f} ms/case, scorer workers included)')"
      grep -E "passed" "$WORK/$what.out" | sed 's/^/    /'
    done
    python3 -c "
import json
for line in open('$WORK/scored.jsonl'):
    c = json.loads(line); print(json.dumps({'id': c['id'], 'output': c['expected'], 'vars': c['vars'], 'expected': c['expected']}))" > "$WORK/requests.jsonl"
    t0=$(now)
    /usr/bin/time -o "$WORK/alone.time" -f "%U %S" python3 golden-sets/scorers/grade.py < "$WORK/requests.jsonl" > /dev/null
    t1=$(now)
    python3 -c "
u, s = open('$WORK/alone.time').read().split()[-2:]
print(f'grade.py alone over the 10,000 requests: {$t1 - $t0:.2f} s wall, CPU {float(u) + float(s):.2f} s')"
    ;;
  *) echo "usage: $0 rate-limit|throughput|faults|memory|warm|vs-python|judged|stream|scorers"; exit 64 ;;
esac
