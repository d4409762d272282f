#!/usr/bin/env bash
# Cache throughput against raw SQLite C on the same layout, in one run (docs/PERFORMANCE.md).
#   scripts/bench-cache.sh [ROWS] [LOOKUPS]     (defaults 1,000,000 and 1,000,000)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/release/evalengine}
[ -x "$BIN" ] || { echo "build first: swift build -c release (or set BIN)"; exit 64; }
ROWS=${1:-1000000}; LOOKUPS=${2:-1000000}
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
cc -O2 -o "$WORK/sqlite_raw" Benchmarks/sqlite/sqlite_raw.c -lsqlite3
"$WORK/sqlite_raw" "$WORK/raw.sqlite" "$ROWS" "$LOOKUPS"
"$BIN" cache bench --file "$WORK/store.sqlite" --rows "$ROWS" --lookups "$LOOKUPS"
