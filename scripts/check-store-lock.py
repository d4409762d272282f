#!/usr/bin/env python3
"""Another process holds the service's SQLite write lock for 5 s while a job is writing results:
the service must keep answering. 200 long-polls (GET /v1/jobs/ID?wait=1) and /healthz probes are
sent during the lock; their latencies are reported (p50, p99, max), never asserted as timings in a
unit test. With --compare-bin, the same run against another build (e.g. the code before the store
moved off the cooperative pool), in the same script run.

    python3 scripts/check-store-lock.py --bin .build/debug/evalengine [--compare-bin OLD] [--hold 5]

Exit 1 when a probe against --bin failed or took longer than the hold itself (a blocked service
answers only once the lock is released), or the job's results are lost or duplicated afterwards.
"""
import argparse
import os
import sqlite3
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reliability"))
from common import Scratch, Server, Simulator, http, store_check  # noqa: E402

CASES = 3000


def percentile(values, q):
    s = sorted(values)
    if not s:
        return float("nan")
    h = (len(s) - 1) * q
    lo = int(h)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (h - lo) * (s[hi] - s[lo])


def trial(binary, hold, polls):
    s = Scratch(CASES, prefix="evalengine-lock-")
    sim = Simulator(binary, s, "latency: {distribution: fixed, ms: 5}\n")
    s.endpoints(sim.port, ", requests_per_minute: 6000, burst_seconds: 0.2")
    config = s.write("service.yaml", "endpoints: endpoints.yaml\ndata_dir: data\nstore: state/service.sqlite\nreports_dir: state/reports\n")
    server = Server(binary, config, s.dir, s.path("server.err"))
    try:
        body = {"golden_set": {"ref": "g.jsonl"}, "prompt": {"ref": "prompt.yaml"}, "endpoint": "sim", "thresholds": {"min_pass_rate": 0.5}}
        status, _, env = http("POST", server.base + "/v1/eval", body, {"Idempotency-Key": "store-lock"})
        assert status in (200, 202), (status, env)
        job = env["job_id"]
        # Let the job get going: results are being written when the lock is taken.
        while sim.stats()["chat"] < 200:
            time.sleep(0.02)
        db = sqlite3.connect(s.path("state/service.sqlite"), timeout=30, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        locked_at = time.monotonic()
        lat_poll, lat_health, failures = [], [], []
        lock = threading.Lock()

        def probe(path, into):
            t0 = time.monotonic()
            try:
                status, _, _ = http("GET", server.base + path, timeout=hold + 30)
                ok = status == 200
            except Exception as e:  # a timeout or a reset is a failed probe
                ok, status = False, repr(e)
            with lock:
                into.append(time.monotonic() - t0)
                if not ok:
                    failures.append((path, status))

        threads = []
        for i in range(polls):
            threads.append(threading.Thread(target=probe, args=(f"/v1/jobs/{job}?wait=1", lat_poll)))
            if i % 10 == 0:
                threads.append(threading.Thread(target=probe, args=("/healthz", lat_health)))
        for i, t in enumerate(threads):
            t.start()
            time.sleep(min(hold * 0.8, 4.0) / len(threads))  # spread over the first part of the hold
        remaining = hold - (time.monotonic() - locked_at)
        if remaining > 0:
            time.sleep(remaining)
        db.execute("ROLLBACK")
        db.close()
        released = time.monotonic() - locked_at
        for t in threads:
            t.join()
        status, _, final = http("POST", server.base + f"/v1/eval?wait=120", body, {"Idempotency-Key": "store-lock"}, timeout=180)
        status, _, report = http("GET", server.base + f"/v1/jobs/{job}/report")
        ids = [c["id"] for c in report.get("cases", [])] if isinstance(report, dict) else []
        integrity, dups = store_check(s.path("state/service.sqlite"))
        intact = final.get("state") == "completed" and len(ids) == CASES and len(set(ids)) == CASES and integrity == "ok" and dups == 0
        return {
            "hold": released, "polls": lat_poll, "health": lat_health, "failures": failures, "intact": intact,
            "final": final.get("state"), "cases": len(set(ids)), "integrity": integrity,
        }
    finally:
        server.stop()
        sim.stop()


def describe(name, r):
    def stats(v):
        return f"p50 {percentile(v, 0.5) * 1000:.0f} ms, p99 {percentile(v, 0.99) * 1000:.0f} ms, max {max(v) * 1000:.0f} ms" if v else "none"
    return (f"{name}: lock held {r['hold']:.1f} s; {len(r['polls'])} long-polls (wait=1): {stats(r['polls'])}; "
            f"{len(r['health'])} /healthz: {stats(r['health'])}; {len(r['failures'])} failed; "
            f"job {r['final']}, {r['cases']}/{CASES} cases, store {r['integrity']}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/debug/evalengine")
    ap.add_argument("--compare-bin")
    ap.add_argument("--hold", type=float, default=5.0)
    ap.add_argument("--polls", type=int, default=200)
    a = ap.parse_args()
    results = {}
    for name, binary in [("this build", a.bin)] + ([("compared build", a.compare_bin)] if a.compare_bin else []):
        results[name] = trial(os.path.abspath(binary), a.hold, a.polls)
        print(describe(name, results[name]), flush=True)
    r = results["this build"]
    # A long-poll waits up to 1 s by design; anything near the hold means it waited for the lock.
    slowest = max(r["polls"] + r["health"])
    ok = not r["failures"] and slowest < min(a.hold * 0.6, 3.0) and r["intact"]
    print(f"check-store-lock: {'ok' if ok else 'FAILED'} (slowest probe {slowest:.2f} s during a {r['hold']:.1f} s lock)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
