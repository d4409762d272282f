"""Soak: continuous submissions (new jobs, long-polls, status reads, scrapes) against one server for a
bounded time, with retention on; its anonymous memory, open file descriptors, latency and store size
must stay flat, and every job must have its audit line. (File-backed RSS follows the SQLite file the
store maps; that is the page cache, not a leak, and is reported apart.)"""
import json
import os
import sqlite3
import statistics
import subprocess
import threading
import time

from common import Scratch, Server, Simulator, http, open_fds


def rss(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0])
    return out


def store_bytes(path):
    return sum(os.path.getsize(path + suffix) for suffix in ("", "-wal") if os.path.exists(path + suffix))


def heap_gauges(base):
    """(malloc's bytes in use, SQLite's page caches) from the service's /metrics, in KiB: the
    first less the second is the heap the service itself holds, which a leak grows and neither
    fragmentation nor a filling page cache does."""
    values = {"evalengine_heap_in_use_bytes": 0.0, "evalengine_sqlite_memory_bytes": 0.0}
    try:
        _, _, raw = http("GET", base + "/metrics")
        text = raw.decode() if isinstance(raw, bytes) else ""
    except Exception:
        return (0.0, 0.0)
    for line in text.splitlines():
        name = line.split(" ", 1)[0]
        if name in values:
            values[name] = float(line.split()[-1]) / 1024
    return (values["evalengine_heap_in_use_bytes"], values["evalengine_sqlite_memory_bytes"])


def audit_bytes(path):
    """Bytes of the store's pages holding audit lines (table and indexes), read live (WAL lets a
    reader in beside the service)."""
    try:
        c = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return c.execute("SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name LIKE 'audit%'").fetchone()[0]
        finally:
            c.close()
    except sqlite3.Error:
        return None


def run(binary, seconds):
    s = Scratch(20)
    retention = max(10, seconds // 12)
    sim = Simulator(binary, s, "latency: {distribution: fixed, ms: 2}\n")
    s.endpoints(sim.port)
    config = s.write("service.yaml", "endpoints: endpoints.yaml\ndata_dir: data\nstore: state/service.sqlite\nreports_dir: state/reports\n"
                     "limits: {max_concurrent_jobs: 4}\n"
                     # Short periods so that the store reaches its steady size within the first quarter.
                     f"retention: {{jobs: {retention}s, cache: {retention}s, audit: 400d, sweep_every: 2s}}\n")
    server = Server(binary, config, s.dir, s.path("server.err"))
    pid = server.proc.pid
    body = {"golden_set": {"ref": "g.jsonl"}, "prompt": {"ref": "prompt.yaml"}, "endpoint": "sim", "thresholds": {"min_pass_rate": 0.5}}
    stop = threading.Event()
    lat = []  # (time, seconds) of submit-and-wait round trips
    errors = []
    jobs = [0]
    job_ids = set()

    def client(n):
        i = 0
        while not stop.is_set():
            i += 1
            t0 = time.time()
            st, _, env = http("POST", server.base + "/v1/eval?wait=30", body, {"Idempotency-Key": f"soak-{n}-{i}"}, timeout=60)
            if st != 200 or env.get("state") != "completed":
                errors.append((st, str(env)[:200]))
                continue
            lat.append((t0, time.time() - t0))
            jobs[0] += 1
            job_ids.add(env["job_id"])
            http("GET", server.base + f"/v1/jobs/{env['job_id']}")
            if i % 5 == 0:
                http("GET", server.base + f"/v1/jobs/{env['job_id']}/report")
                http("GET", server.base + "/metrics")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    start = time.time()
    for t in threads:
        t.start()
    samples = []
    store_path = s.path("state/service.sqlite")
    audit = []  # (time, audit bytes), about 16 over the run: dbstat reads every page
    try:
        while time.time() - start < seconds:
            time.sleep(2)
            samples.append((time.time() - start, rss(pid), open_fds(pid), store_bytes(store_path), heap_gauges(server.base)))
            if len(samples) % max(1, seconds // 32) == 0:
                audit.append((time.time() - start, audit_bytes(store_path)))
    finally:
        stop.set()
        for t in threads:
            t.join()
        server.stop()
        sim.stop()
    # Every job has its audit line, though its own row is gone.
    out = subprocess.run([binary, "audit", "export", "--store", s.path("state/service.sqlite")], capture_output=True, text=True, timeout=120)
    audited = {json.loads(line)["job_id"] for line in out.stdout.splitlines() if line.strip()}
    missing_audit = job_ids - audited
    # The first half warms up: anonymous memory climbs while the store's SQLite page cache fills
    # to its 32 MiB cap (about 3,000 jobs: ~35 s in a release build, ~65 s in a debug one), then
    # stays. Compare the third and fourth quarters: a leak grows between them, a plateau does not.
    quarter = max(1, len(samples) // 4)
    q3, q4 = samples[2 * quarter:3 * quarter], samples[3 * quarter:]
    # The heap in use outside SQLite's page caches (those fill towards their cap as the store grows,
    # which retention now keeps smaller than the cap; RSS also moves with fragmentation).
    anon_mid = statistics.median(x[4][0] - x[4][1] for x in q3)
    anon_last = statistics.median(x[4][0] - x[4][1] for x in q4)
    fds_q3 = [x[2] for x in q3]
    fds_q4 = [x[2] for x in q4]
    t_mid, t_last = start + seconds / 3, start + 2 * seconds / 3
    lat_mid = sorted(d for t, d in lat if t_mid <= t < t_last)
    lat_last = sorted(d for t, d in lat if t >= t_last)

    def p(xs, q):
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")

    growth = (anon_last - anon_mid) / anon_mid
    # Open fds move with the connections in flight; a leak raises the ceiling.
    fd_growth = max(fds_q4) - max(fds_q3)
    # The store: past warm-up (the first quarter), what retention frees is reused. Audit lines
    # (~0.4 KB a job) are the only rows kept, so a little growth remains; a store keeping every
    # job grows by ~25 KB a job.
    store_q = [statistics.median(x[3] for x in samples[i * quarter:(i + 1) * quarter]) for i in range(4)]
    store_growth = (store_q[3] - store_q[1]) / store_q[1]
    # The audit pages per quarter (the lines kept on purpose), and the store without them.
    def quarter_of(t):
        return min(3, int(4 * t / seconds))
    audit_q = [statistics.median([b for t, b in audit if b is not None and quarter_of(t) == i] or [0]) for i in range(4)]
    rest_q = [store_q[i] - audit_q[i] for i in range(4)]
    # Third to fourth quarter, as for the heap: the retained work is the throughput times the
    # retention period, so the store settles only once the throughput has.
    rest_growth = (rest_q[3] - rest_q[2]) / rest_q[2]
    # 5%, or half a megabyte on a heap this small (a leak that slow still shows in the long soak).
    heap_ok = anon_last - anon_mid <= max(0.05 * anon_mid, 512)
    ok = (not errors and heap_ok and fd_growth <= 4 and p(lat_last, 0.95) <= 2 * p(lat_mid, 0.95) + 0.05
          and rest_growth <= 0.10 and not missing_audit and out.returncode == 0)
    print(f"soak: {seconds} s, {jobs[0]} jobs ({jobs[0] / seconds:.1f}/s) by 4 clients, {len(errors)} errors{': ' + errors[0][1] if errors else ''}")
    trend = " ".join(f"{x[1]['RssAnon'] / 1024:.0f}" for x in samples[::max(1, len(samples) // 12)])
    print(f"  anonymous RSS (heap) MB over time: {trend}")
    print(f"  SQLite page caches MB over time: {' '.join(f'{x[4][1] / 1024:.0f}' for x in samples[::max(1, len(samples) // 12)])}")
    print(f"  malloc in use less SQLite's caches, median: third quarter {anon_mid / 1024:.1f} MB, fourth {anon_last / 1024:.1f} MB ({growth:+.1%}; limit +5% or +0.5 MB)")
    print(f"  file-backed RSS (the store's mmap) {samples[quarter][1]['RssFile'] / 1024:.1f} -> {samples[-1][1]['RssFile'] / 1024:.1f} MB")
    print(f"  store file (db + wal) median per quarter: {' / '.join(f'{b / 1e6:.1f}' for b in store_q)} MB "
          f"(second to fourth {store_growth:+.1%}; retention {retention} s)")
    print(f"    of which audit lines: {' / '.join(f'{b / 1e6:.1f}' for b in audit_q)} MB; everything else "
          f"{' / '.join(f'{b / 1e6:.1f}' for b in rest_q)} MB (third to fourth {rest_growth:+.1%}; limit +10%)")
    print(f"  audit lines: {len(audited)} for {len(job_ids)} jobs, {len(missing_audit)} missing")
    print(f"  open fds: third quarter {min(fds_q3)}-{max(fds_q3)}, fourth {min(fds_q4)}-{max(fds_q4)} (ceiling {fd_growth:+d}; limit +4)")
    print(f"  submit+complete latency p50/p95: middle third {p(lat_mid, .5) * 1000:.0f}/{p(lat_mid, .95) * 1000:.0f} ms, "
          f"last third {p(lat_last, .5) * 1000:.0f}/{p(lat_last, .95) * 1000:.0f} ms -> {'ok' if ok else 'FAILED'}")
    return ok
