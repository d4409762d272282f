#!/usr/bin/env python3
"""The reliability suite (docs/RELIABILITY.md): process faults, hostile requests, soak, disk full.
The fault matrix is a Swift test suite (FaultMatrixTests) and the parsers are fuzzed by
scripts/fuzz.sh; `make reliability` runs all of them.

  python3 scripts/check-reliability.py                      # CI variant (~5 min)
  python3 scripts/check-reliability.py --long               # local: 200 kills, 10-minute soak
  python3 scripts/check-reliability.py --only kill-loop     # one part
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reliability"))
import disk_full  # noqa: E402
import hostile  # noqa: E402
import hostile_endpoint  # noqa: E402
import kill_loop  # noqa: E402
import soak  # noqa: E402

PARTS = ["hostile", "hostile-endpoint", "disk-full", "kill-loop", "soak"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/debug/evalengine")
    ap.add_argument("--long", action="store_true", help="the longer local variant")
    ap.add_argument("--only", choices=PARTS, action="append")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kills", type=int, help="kill -9s across CLI and server (default 50, 200 with --long)")
    ap.add_argument("--soak-seconds", type=int, help="soak duration (default 120, 600 with --long)")
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    parts = a.only or PARTS
    failed = []
    for part in parts:
        t0 = time.time()
        if part == "hostile":
            ok = hostile.run(binary)
        elif part == "hostile-endpoint":
            ok = hostile_endpoint.run(binary)
        elif part == "kill-loop":
            ok = kill_loop.run(binary, a.kills or (200 if a.long else 50), a.seed)
        elif part == "disk-full":
            ok = disk_full.run(binary)
        elif part == "soak":
            ok = soak.run(binary, a.soak_seconds or (600 if a.long else 120))
        print(f"[{part}] {'ok' if ok else 'FAILED'} in {time.time() - t0:.0f} s\n", flush=True)
        if not ok:
            failed.append(part)
    if failed:
        sys.exit(f"check-reliability: FAILED: {', '.join(failed)}")
    print("check-reliability: ok")


if __name__ == "__main__":
    main()
