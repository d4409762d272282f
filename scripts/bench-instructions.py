#!/usr/bin/env python3
"""Instruction counts of the hot paths under callgrind, against Benchmarks/Thresholds/instructions.json.

These VMs expose no hardware performance counters, so package-benchmark's `instructions` metric
reads nothing; callgrind counts the same instructions for the same binary and input on any host
(checked: two runs of each workload give identical counts). Each workload of the
`InstructionCounts` executable is counted only inside its `measuredRegion`.

  scripts/bench-instructions.py            # check: exit 1 if a workload grew beyond the tolerance
  scripts/bench-instructions.py --update   # write the current counts as the new baseline
"""
import argparse, json, os, re, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "Benchmarks")
BASELINE = os.path.join(BENCH, "Thresholds", "instructions.json")
# A different compiler or library version moves counts by a little; our own code changes are what
# the guard is for. Counts more than this far above the baseline fail.
TOLERANCE = 0.01


def build():
    subprocess.run(["swift", "build", "-c", "release", "--product", "InstructionCounts"], cwd=BENCH, check=True)
    out = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=BENCH, check=True,
                         capture_output=True, text=True).stdout.strip()
    # Valgrind 3.19's debuginfo reader gives up on this binary's DWARF since it links NIO and
    # BoringSSL (the lean request path's workload): count a copy without debug info. The symbol
    # table stays, which is all --toggle-collect needs, and the instructions are the same.
    stripped = os.path.join(out, "InstructionCounts.stripped")
    subprocess.run(["strip", "--strip-debug", "-o", stripped, os.path.join(out, "InstructionCounts")], check=True)
    return stripped


def count(binary, workload):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "callgrind.out")
        env = dict(os.environ, SWIFT_DETERMINISTIC_HASHING="1")
        r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                            "--toggle-collect=*measuredRegion*", binary, workload],
                           env=env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"{workload}: exit {r.returncode}\n{r.stderr[-2000:]}")
        with open(out) as f:
            m = re.search(r"^totals:\s+(\d+)", f.read(), re.M)
        if not m or int(m.group(1)) == 0:
            sys.exit(f"{workload}: callgrind collected nothing (was measuredRegion inlined away?)")
        return int(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--update", action="store_true", help="write the counts as the new baseline")
    ap.add_argument("--bin", help="a built InstructionCounts (default: build it)")
    args = ap.parse_args()
    binary = args.bin or build()
    workloads = subprocess.run([binary, "--list"], check=True, capture_output=True, text=True).stdout.split()
    counts = {w: count(binary, w) for w in workloads}
    if args.update:
        with open(BASELINE, "w") as f:
            json.dump(counts, f, indent=2, sort_keys=True)
            f.write("\n")
        for w, n in counts.items():
            print(f"{w:28} {n:>14,} instructions (baseline written)")
        return 0
    if not os.path.exists(BASELINE):
        sys.exit(f"instruction guard: no baseline at {BASELINE}; write one with: python3 scripts/bench-instructions.py --update")
    try:
        baseline = json.load(open(BASELINE))
    except ValueError as e:
        sys.exit(f"instruction guard: {BASELINE} is not valid JSON ({e}); rewrite it with --update")
    failed = 0
    print(f"{'workload':28} {'baseline':>14} {'now':>14} {'change':>8}")
    for w, n in counts.items():
        if w not in baseline:
            print(f"{w:28} {'(none)':>14} {n:>14,}   no baseline: run with --update")
            failed += 1
            continue
        b = baseline[w]
        change = (n - b) / b
        verdict = "REGRESSION" if change > TOLERANCE else ("improved: refresh with --update" if change < -TOLERANCE else "ok")
        failed += change > TOLERANCE
        print(f"{w:28} {b:>14,} {n:>14,} {change:>+8.2%}  {verdict}")
    for w in baseline.keys() - counts.keys():
        print(f"{w:28} in the baseline but no longer a workload")
    print(f"instruction guard: {'FAILED' if failed else 'ok'} (tolerance +{TOLERANCE:.0%})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
