"""Soak: continuous submissions (new jobs, long-polls, status reads, scrapes) against one server for a
bounded time; its anonymous memory, open file descriptors and latency must stay flat. (File-backed
RSS grows with the SQLite file the store maps; that is the page cache, not a leak, and is reported
apart.)"""
import statistics
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


def run(binary, seconds):
    s = Scratch(20)
    sim = Simulator(binary, s, "latency: {distribution: fixed, ms: 2}\n")
    s.endpoints(sim.port)
    config = s.write("service.yaml", "endpoints: endpoints.yaml\ndata_dir: data\nstore: state/service.sqlite\nreports_dir: state/reports\n"
                     "limits: {max_concurrent_jobs: 4}\n")
    server = Server(binary, config, s.dir, s.path("server.err"))
    pid = server.proc.pid
    body = {"golden_set": {"ref": "g.jsonl"}, "prompt": {"ref": "prompt.yaml"}, "endpoint": "sim", "thresholds": {"min_pass_rate": 0.5}}
    stop = threading.Event()
    lat = []  # (time, seconds) of submit-and-wait round trips
    errors = []
    jobs = [0]

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
            http("GET", server.base + f"/v1/jobs/{env['job_id']}")
            if i % 5 == 0:
                http("GET", server.base + f"/v1/jobs/{env['job_id']}/report")
                http("GET", server.base + "/metrics")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    start = time.time()
    for t in threads:
        t.start()
    samples = []
    try:
        while time.time() - start < seconds:
            time.sleep(2)
            samples.append((time.time() - start, rss(pid), open_fds(pid)))
    finally:
        stop.set()
        for t in threads:
            t.join()
        server.stop()
        sim.stop()
    # The first half warms up: anonymous memory climbs while the store's SQLite page cache fills
    # to its 32 MiB cap (about 3,000 jobs: ~35 s in a release build, ~65 s in a debug one), then
    # stays. Compare the third and fourth quarters: a leak grows between them, a plateau does not.
    quarter = max(1, len(samples) // 4)
    q3, q4 = samples[2 * quarter:3 * quarter], samples[3 * quarter:]
    anon_mid = statistics.median(x[1]["RssAnon"] for x in q3)
    anon_last = statistics.median(x[1]["RssAnon"] for x in q4)
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
    ok = not errors and growth <= 0.05 and fd_growth <= 4 and p(lat_last, 0.95) <= 2 * p(lat_mid, 0.95) + 0.05
    print(f"soak: {seconds} s, {jobs[0]} jobs ({jobs[0] / seconds:.1f}/s) by 4 clients, {len(errors)} errors{': ' + errors[0][1] if errors else ''}")
    trend = " ".join(f"{x[1]['RssAnon'] / 1024:.0f}" for x in samples[::max(1, len(samples) // 12)])
    print(f"  anonymous RSS (heap) MB over time: {trend}")
    print(f"  anonymous RSS median: third quarter {anon_mid / 1024:.1f} MB, fourth {anon_last / 1024:.1f} MB ({growth:+.1%}; limit +5%)")
    print(f"  file-backed RSS (the store's mmap) {samples[quarter][1]['RssFile'] / 1024:.1f} -> {samples[-1][1]['RssFile'] / 1024:.1f} MB")
    print(f"  open fds: third quarter {min(fds_q3)}-{max(fds_q3)}, fourth {min(fds_q4)}-{max(fds_q4)} (ceiling {fd_growth:+d}; limit +4)")
    print(f"  submit+complete latency p50/p95: middle third {p(lat_mid, .5) * 1000:.0f}/{p(lat_mid, .95) * 1000:.0f} ms, "
          f"last third {p(lat_last, .5) * 1000:.0f}/{p(lat_last, .95) * 1000:.0f} ms -> {'ok' if ok else 'FAILED'}")
    return ok
