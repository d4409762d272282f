#!/usr/bin/env python3
"""Compares two evalengine reports (JSON) apart from timings and ids: what a refactor must not
change. Drops run ids, start times, durations, rates and every latency figure (wall time on a
shared host), including latency gate checks and the verdict text they decide; everything else
(counts, scores, intervals, costs, tokens, outputs, case rows and their order-independent content)
must be equal. Exit 0 when equal, 1 with the first differences printed.

    python3 scripts/compare-reports.py BEFORE.json AFTER.json
"""
import json
import sys

TIMING = ("latency", "duration", "per_second", "started_at", "elapsed", "time_ms")


def timing_key(k):
    return any(t in k for t in TIMING)


def strip(v, path=""):
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if timing_key(k) or (k == "id" and path.endswith("run")) or k in ("integrity",):
                continue
            out[k] = strip(x, path + "/" + k)
        # A latency assertion's reason quotes the measured latency.
        if out.get("type") == "latency":
            out.pop("reason", None)
        # Latency decides a shadow gate's verdict on a noisy host: leave the verdict to the rest.
        if "checks" in out and isinstance(out["checks"], list):
            out["checks"] = [c for c in out["checks"] if not timing_key(str(c.get("name", "")))]
            if any(timing_key(str(c.get("name", ""))) for c in v["checks"]):
                for k in ("verdict", "reasons", "notes"):
                    out.pop(k, None)
        return out
    if isinstance(v, list):
        return [strip(x, path) for x in v]
    return v


def rows(report):
    cases = next((report[k] for k in ("cases", "pairs") if isinstance(report.get(k), list)), [])
    return sorted((json.dumps(strip(c), sort_keys=True) for c in cases))


def main():
    a, b = (json.load(open(p)) for p in sys.argv[1:3])
    diffs = []
    ha = {k: v for k, v in strip(a).items() if not isinstance(v, list) or k not in ("cases", "pairs")}
    hb = {k: v for k, v in strip(b).items() if not isinstance(v, list) or k not in ("cases", "pairs")}
    for k in sorted(set(ha) | set(hb)):
        if ha.get(k) != hb.get(k):
            diffs.append(f"{k}: {json.dumps(ha.get(k), sort_keys=True)[:400]} != {json.dumps(hb.get(k), sort_keys=True)[:400]}")
    ra, rb = rows(a), rows(b)
    if ra != rb:
        only = [r for r in ra if r not in set(rb)][:3]
        diffs.append(f"case rows differ ({len(ra)} vs {len(rb)}); e.g. {only}")
    if diffs:
        print("\n".join(diffs))
        return 1
    print(f"equal apart from timings and ids: {sys.argv[1]} {sys.argv[2]} ({len(ra)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
