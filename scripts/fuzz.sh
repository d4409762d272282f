#!/usr/bin/env bash
# Fuzzes every input parser with `evalengine fuzz` (seeded mutations; the same seed replays the
# same inputs). A crash keeps the crashing input under out/fuzz-crashes/ and fails the run.
#   scripts/fuzz.sh                      # CI: 10,000 inputs per parser (debug build)
#   BIN=.build/release/evalengine ITERATIONS=1000000 scripts/fuzz.sh   # the local long run (docs/RELIABILITY.md)
# Replay a crash: evalengine fuzz --target T --replay out/fuzz-crashes/T-seedS.input
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/debug/evalengine}
ITERATIONS=${ITERATIONS:-10000}
SEED=${SEED:-1}
TARGETS=${TARGETS:-"json jsonl csv yaml-golden yaml-config qrels run traffic request template"}
WORK=$(mktemp -d /dev/shm/evalengine-fuzz.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p out/fuzz-crashes
failed=0
for t in $TARGETS; do
  "$BIN" fuzz --target "$t" --iterations "$ITERATIONS" --seed "$SEED" --work "$WORK" > "$WORK/$t.log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then
    tail -1 "$WORK/$t.log"
  else
    input=$(ls "$WORK/$t"/input.* 2>/dev/null | head -1)
    keep="out/fuzz-crashes/$t-seed$SEED.input"
    [ -n "$input" ] && cp "$input" "$keep"
    echo "fuzz $t: CRASH (exit $rc) after $(grep -c '' "$WORK/$t.log") log lines; input kept in $keep"
    grep -m5 -E "Fatal error|at /" "$WORK/$t.log" | sed 's/^/    /'
    echo "    replay: $BIN fuzz --target $t --replay $keep"
    failed=1
  fi
done
exit $failed
